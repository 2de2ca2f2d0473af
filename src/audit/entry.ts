import { randomUUID } from "node:crypto";
import { boundText } from "../util/redact.js";

/** Where a change came from. */
export type AuditSource = "updateSync" | "scim" | "oneUser" | "immutableId" | "import" | "approval";

/** Which directory was written: the platform directory (Entra → platform) or the customer's Entra (platform → Entra). */
export type AuditTarget = "platform" | "entra";

/** One attribute of one user, before and after. `null`: no value. A sensitive attribute's values read `[masked]`. */
export interface AuditChange {
  attribute: string;
  old: string | null;
  new: string | null;
}

/**
 * One write of one user: when, which tenant, run and user, the attributes that changed (old → new) and what became
 * of it. A platform-directory entry is written in the same table transaction as the change itself, so `applied`
 * means the change is stored; `failed` carries the reason (the change was not made).
 */
export interface AuditEntry {
  at: string;
  tenantId: string;
  /** The run that made the change; absent for writes outside a run (SCIM, imports). */
  runId?: string | undefined;
  source: AuditSource;
  target: AuditTarget;
  /** The platform user id (target `platform`) or the Entra object id (target `entra`). */
  userId: string;
  /** The Entra object id, where known besides `userId`. */
  entraId?: string | undefined;
  changes: AuditChange[];
  outcome: "applied" | "failed";
  /** Why it failed: a code or reason and the message, redacted and cut. */
  reason?: string | undefined;
}

/** What a writer tells the audit log about the write it makes (the rest comes from the write itself). */
export interface AuditContext {
  source: AuditSource;
  runId?: string | undefined;
  /** Attributes whose values are masked for this tenant, beyond the app-wide ones (AUDIT_SENSITIVE_ATTRIBUTES). */
  sensitive?: readonly string[] | undefined;
}

/** One write into Entra as its writer reports it (src/immutable-id/writer.ts `EntraWrite`). */
export interface EntraWriteFact {
  entraId: string;
  platformUserId: string;
  changes: AuditChange[];
  outcome: "applied" | "failed";
  reason?: string | undefined;
}

/** The audit entries of writes into Entra (user: the platform user where known, else the Entra object id). */
export function entraWriteEntries(tenantId: string, runId: string | undefined, source: AuditSource, at: string, writes: readonly EntraWriteFact[]): AuditEntry[] {
  return writes.map((w) => ({ at, tenantId, runId, source, target: "entra", userId: w.platformUserId || w.entraId, entraId: w.entraId, changes: w.changes, outcome: w.outcome, reason: w.reason }));
}

/** Masked values read this. */
export const MASKED = "[masked]";
/** Longest value an audit entry keeps (longer ones are cut with a marker): an entry must fit one table row. */
export const MAX_AUDIT_VALUE = 1_000;

/** Fields of a platform user that are not attributes of the user (identity, bookkeeping of the store). */
const NOT_AUDITED = new Set(["id", "tenantId", "etag", "scimDocument", "timestamp", "partitionKey", "rowKey"]);

/** Whether `attribute` is masked: named by the app's or the tenant's sensitive list (`extra:<name>` for extension attributes). */
export function isSensitive(attribute: string, sensitive: ReadonlySet<string>): boolean {
  if (sensitive.has(attribute)) return true;
  const extra = attribute.startsWith("extra:") ? attribute.slice(6) : undefined;
  return extra !== undefined && (sensitive.has(extra) || [...sensitive].some((s) => extra.toLowerCase().endsWith(`.${s.toLowerCase()}`) || extra.toLowerCase().endsWith(`:${s.toLowerCase()}`)));
}

/** A value as the audit log keeps it: masked when sensitive, else redacted (no secret ever) and cut. */
export function auditValue(attribute: string, v: unknown, sensitive: ReadonlySet<string>): string | null {
  if (v === undefined || v === null || v === "") return null;
  if (isSensitive(attribute, sensitive)) return MASKED;
  return boundText(typeof v === "string" ? v : JSON.stringify(v), MAX_AUDIT_VALUE);
}

/** A user's fields as audited: extension attributes (`extraAttributes`, JSON) each on their own as `extra:<name>`. */
function flatten(u: object | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!u) return out;
  const r = u as Record<string, unknown>;
  for (const k in r) {
    const v = r[k];
    if (NOT_AUDITED.has(k) || k.startsWith("odata") || v === undefined || v === null || v === "") continue;
    if (k === "extraAttributes" && typeof v === "string") {
      try {
        for (const [ek, ev] of Object.entries(JSON.parse(v) as Record<string, unknown>)) if (ev !== undefined && ev !== null && ev !== "") out.set(`extra:${ek}`, ev);
        continue;
      } catch {
        // not JSON: audited as one value
      }
    }
    out.set(k, v);
  }
  return out;
}

/** `localeCompare` without arguments, as one collator (the same order; made once, not per comparison). */
const collator = new Intl.Collator();

/** The same value: equal, or (not two strings, which would be equal) the same JSON. */
const sameValue = (o: unknown, n: unknown): boolean => o === n || ((typeof o !== "string" || typeof n !== "string") && JSON.stringify(o) === JSON.stringify(n));

/** A field that an audit entry speaks of, with a value. */
const audited = (k: string, v: unknown): boolean => v !== undefined && v !== null && v !== "" && !NOT_AUDITED.has(k) && !k.startsWith("odata");

/** The attributes that differ between a user as stored before and after a write, old → new, masked where sensitive. */
export function diffForAudit(before: object | undefined, after: object, sensitive: ReadonlySet<string>): AuditChange[] {
  const a = (before ?? {}) as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  if (typeof a.extraAttributes === "string" || typeof b.extraAttributes === "string") return diffFlattened(before, after, sensitive);
  // No extension attributes to spread out (nearly every write): the two users' own fields, compared in place, in the
  // order (and with the outcome) of diffFlattened.
  const out: AuditChange[] = [];
  for (const k in a) {
    const o = a[k];
    if (!audited(k, o)) continue;
    const n = audited(k, b[k]) ? b[k] : undefined;
    if (!sameValue(o, n)) out.push({ attribute: k, old: auditValue(k, o, sensitive), new: auditValue(k, n, sensitive) });
  }
  for (const k in b) {
    const n = b[k];
    if (audited(k, n) && !audited(k, a[k]) && !sameValue(undefined, n)) out.push({ attribute: k, old: null, new: auditValue(k, n, sensitive) });
  }
  return out.length > 1 ? out.sort((x, y) => collator.compare(x.attribute, y.attribute)) : out;
}

/** diffForAudit over both users flattened (extension attributes each on their own). */
export function diffFlattened(before: object | undefined, after: object, sensitive: ReadonlySet<string>): AuditChange[] {
  const a = flatten(before);
  const b = flatten(after);
  const out: AuditChange[] = [];
  for (const [k, o] of a) {
    const n = b.get(k);
    if (!sameValue(o, n)) out.push({ attribute: k, old: auditValue(k, o, sensitive), new: auditValue(k, n, sensitive) });
  }
  for (const [k, n] of b) if (!a.has(k) && !sameValue(undefined, n)) out.push({ attribute: k, old: null, new: auditValue(k, n, sensitive) });
  return out.length > 1 ? out.sort((x, y) => collator.compare(x.attribute, y.attribute)) : out;
}

/*
 * Where audit entries are stored: in the platform directory's table, in the tenant's own partition, beside its users
 * and their lookup index, so that an entry goes in the same entity-group transaction as the change it records. Users'
 * RowKeys start at '"' and index entries are in ["!", '"'); audit RowKeys start with a space (" audit|"), below both,
 * which no user id may start with. After the prefix: 13 digits of inverted milliseconds (newest first, and so a time
 * range is a key range), then a random suffix (two entries of one millisecond never collide).
 */
export const AUDIT_PREFIX = " audit|";
/** The first string after every audit RowKey. */
export const AUDIT_END = " audit}";
const MAX_MS = 9_999_999_999_999;

/** The RowKey part for a time: inverted milliseconds, so newer sorts first. */
export const invertedTime = (ms: number): string => String(MAX_MS - ms).padStart(13, "0");
// The suffix: 48 random bits as 12 hex digits, taken from a v4 UUID (its first 12 hex digits are random): Node draws
// UUIDs from a buffered pool (0.5–1 µs each here), where randomBytes(6) asked the system per entry (6–8 µs).
export const auditRowKey = (at: string): string => {
  const u = randomUUID();
  return `${AUDIT_PREFIX}${invertedTime(Date.parse(at))}|${u.slice(0, 8)}${u.slice(9, 13)}`;
};
/** The time an audit RowKey was made for (ms). */
export const timeOfRowKey = (rowKey: string): number => MAX_MS - Number(rowKey.slice(AUDIT_PREFIX.length, AUDIT_PREFIX.length + 13));

/** The changes as stored: one string property, so cut further where many long values would pass 64 KiB. */
function changesJson(changes: readonly AuditChange[]): string {
  for (const max of [MAX_AUDIT_VALUE, 200, 40]) {
    const cut = (v: string | null) => (v === null || v.length <= max ? v : `${v.slice(0, max)}… (${v.length - max} characters cut)`);
    const json = JSON.stringify(changes.map((c) => [c.attribute, cut(c.old), cut(c.new)]));
    if (json.length <= 30_000) return json;
  }
  return JSON.stringify(changes.slice(0, 200).map((c) => [c.attribute, null, null]));
}

/** The table entity of an entry (the caller's partition is the tenant id). */
export function toAuditEntity(e: AuditEntry): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  const entity: Record<string, unknown> & { partitionKey: string; rowKey: string } = {
    partitionKey: e.tenantId,
    rowKey: auditRowKey(e.at),
    at: e.at,
    source: e.source,
    target: e.target,
    userId: e.userId,
    outcome: e.outcome,
    changes: changesJson(e.changes),
  };
  if (e.runId) entity.runId = e.runId;
  if (e.entraId) entity.entraId = e.entraId;
  if (e.reason) entity.reason = boundText(e.reason, MAX_AUDIT_VALUE);
  return entity;
}

/** An entry as stored, with its RowKey (the cursor listing goes on from). */
export type StoredAuditEntry = AuditEntry & { id: string };

export function fromAuditEntity(e: Record<string, unknown>): StoredAuditEntry {
  let changes: AuditChange[] = [];
  try {
    changes = (JSON.parse(String(e.changes ?? "[]")) as Array<[string, string | null, string | null]>).map(([attribute, o, n]) => ({ attribute, old: o, new: n }));
  } catch {
    changes = [];
  }
  const out: StoredAuditEntry = {
    id: String(e.rowKey),
    at: String(e.at),
    tenantId: String(e.partitionKey),
    source: e.source as AuditSource,
    target: e.target as AuditTarget,
    userId: String(e.userId),
    changes,
    outcome: e.outcome === "failed" ? "failed" : "applied",
  };
  if (typeof e.runId === "string") out.runId = e.runId;
  if (typeof e.entraId === "string") out.entraId = e.entraId;
  if (typeof e.reason === "string") out.reason = e.reason;
  return out;
}
