import { stringify } from "csv-stringify/sync";
import { EntraSyncError } from "../errors.js";
import { parseGuid } from "../tenants/model.js";
import type { StoredAuditEntry } from "./entry.js";
import { AUDIT_PREFIX } from "./entry.js";
import type { AuditLog, AuditPage } from "./store.js";

/** What `listAudit` needs. */
export interface ListAuditDeps {
  audit: Pick<AuditLog, "list">;
}

/** A listing request as it arrives from the API, the CLI or the status page (strings, unchecked). */
export interface ListAuditRequest {
  tenantId: unknown;
  userId?: string | null | undefined;
  runId?: string | null | undefined;
  /** An ISO time or a date `YYYY-MM-DD` (00:00 UTC that day). */
  since?: string | null | undefined;
  limit?: number | string | null | undefined;
  continuation?: string | null | undefined;
}

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;

const bad = (field: string, message: string) => new EntraSyncError("INPUT_INVALID", message, { field, retryable: false });
const given = (v: string | null | undefined): v is string => typeof v === "string" && v !== "";
const shown = (v: string) => JSON.stringify(v.slice(0, 60));

/**
 * The audit log of one tenant, newest first: every attribute change the platform directory received and every write
 * into Entra, narrowed by user (platform user id or Entra object id), run and time. `limit` 1–1000 (default 100); a
 * page that is not the last carries `continuation`, to pass back for the next. Bad input is INPUT_INVALID naming
 * the field.
 */
export async function listAudit(deps: ListAuditDeps, r: ListAuditRequest): Promise<AuditPage & { tenantId: string }> {
  const tenantId = parseGuid(r.tenantId, "tenant");
  let limit = DEFAULT_AUDIT_LIMIT;
  if (r.limit !== undefined && r.limit !== null && r.limit !== "") {
    const n = typeof r.limit === "number" ? r.limit : /^\d{1,4}$/.test(r.limit) ? Number(r.limit) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > MAX_AUDIT_LIMIT) throw bad("limit", `limit must be a whole number from 1 to ${MAX_AUDIT_LIMIT}, got ${shown(String(r.limit))}.`);
    limit = n;
  }
  let since: string | undefined;
  if (given(r.since)) {
    const s = r.since.trim();
    const ms = /^\d{4}-\d{2}-\d{2}$/.test(s) ? Date.parse(`${s}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(s) ? Date.parse(s) : NaN;
    if (!Number.isFinite(ms)) throw bad("since", `since must be a date (YYYY-MM-DD, UTC) or an ISO time like 2026-11-30T08:00:00Z, got ${shown(s)}.`);
    since = new Date(ms).toISOString();
  }
  if (given(r.userId) && (r.userId.length > 512 || /[\u0000-\u001f]/.test(r.userId))) throw bad("user", `user must be a platform user id or an Entra object id (at most 512 characters, no control characters), got ${shown(r.userId)}.`);
  if (given(r.runId) && !/^[0-9]{13}-[0-9a-f]{8}$/.test(r.runId)) throw bad("run", `run must be a run id like 8204560916235-4590d5ca, got ${shown(r.runId)}.`);
  if (given(r.continuation) && (!r.continuation.startsWith(AUDIT_PREFIX) || r.continuation.length > 64)) throw bad("continuation", "continuation must be the value a previous page of this listing returned.");
  const page = await deps.audit.list({
    tenantId,
    userId: given(r.userId) ? r.userId : undefined,
    runId: given(r.runId) ? r.runId : undefined,
    since,
    limit,
    continuation: given(r.continuation) ? r.continuation : undefined,
  });
  return { tenantId, ...page };
}

/** A cell that a spreadsheet would take for a formula is prefixed with an apostrophe (values come from directories). */
const cell = (v: string | null | undefined): string => (v == null ? "" : /^[=+\-@\t\r]/.test(v) ? `'${v}` : v);

/** The entries as CSV, one line per attribute change (an entry without changes is one line with empty attribute). */
export function auditToCsv(entries: readonly StoredAuditEntry[]): string {
  const rows: string[][] = [];
  for (const e of entries) {
    const base = [e.at, e.tenantId, e.runId ?? "", e.source, e.target, e.userId, e.entraId ?? ""];
    const tail = [e.outcome, e.reason ?? ""];
    if (e.changes.length === 0) rows.push([...base, "", "", "", ...tail].map(cell));
    for (const c of e.changes) rows.push([...base, c.attribute, c.old ?? "", c.new ?? "", ...tail].map(cell));
  }
  return stringify(rows, { header: true, columns: ["at", "tenant", "run", "source", "target", "user", "entraId", "attribute", "old", "new", "outcome", "reason"] });
}
