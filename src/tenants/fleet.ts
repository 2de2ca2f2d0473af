/**
 * Onboarding and offboarding a fleet: `entra-sync tenant import FILE.csv` (many tenants, validated whole before
 * anything is written) and `entra-sync tenant remove G [--purge]` (disable; with purge, delete every copy of the
 * tenant's data this app holds, keeping the platform's own users with their Entra marks cleared).
 */
import { readFile } from "node:fs/promises";
import type { TableClient } from "@azure/data-tables";
import { parse } from "csv-parse/sync";
import type { PlatformDirectory, PlatformUpdate } from "../directory/directory.js";
import { EntraSyncError } from "../errors.js";
import { adminConsentUrl } from "../graph/permissions.js";
import type { SecretStore } from "../secrets/store.js";
import { TABLES } from "../state/tables.js";
import { deleteWhere } from "../state/tables-client.js";
import { odata } from "@azure/data-tables";
import { checkTenant, type TenantCheckResult } from "./check.js";
import { parseGuid, validateTenant, type Tenant } from "./model.js";
import type { TenantRegistry } from "./registry.js";
import type { AuditLog } from "../audit/store.js";
import { isActive, newOwner, type LeaseStore } from "../runs/lease.js";
import { newRunId } from "../runs/report.js";
import { HOLDS_PARTITION } from "../runs/hold-index.js";
import { mapLimit } from "../util/concurrency.js";

/** The columns of an import file (header row; `,` or `;` separated). */
export const IMPORT_COLUMNS = ["tenantId", "clientId", "name", "adminEmails", "locale", "cloud", "linkBy", "immutableIdMode", "interval"] as const;
const REQUIRED = ["tenantId", "clientId", "name"] as const;

export interface TenantImportRow {
  tenant: Tenant;
  adminConsentUrl: string;
  check?: Pick<TenantCheckResult, "ok" | "roles" | "tokenError"> | undefined;
}

/** Turns one CSV row into a registration input; throws INPUT_INVALID naming the row and column. */
function rowInput(row: Record<string, string>, line: number, file: string): Record<string, unknown> {
  const bad = (column: string, why: string) => new EntraSyncError("INPUT_INVALID", `${file}, line ${line}: ${column}: ${why} Nothing was registered.`, { field: column, retryable: false });
  for (const c of REQUIRED) if (!row[c]) throw bad(c, "is required.");
  const input: Record<string, unknown> = { tenantId: row.tenantId, clientId: row.clientId, displayName: row.name };
  if (row.adminEmails) input.adminEmails = row.adminEmails.split(/[\s;|,]+/).filter(Boolean);
  if (row.locale) input.locale = row.locale;
  if (row.cloud) input.cloud = row.cloud;
  if (row.linkBy) {
    if (row.linkBy === "none") input.linking = null;
    else {
      const m = /^(userPrincipalName|mail):(userName|email)$/.exec(row.linkBy);
      if (!m) throw bad("linkBy", `must be none or ENTRA:PLATFORM like userPrincipalName:userName, got "${row.linkBy}".`);
      input.linking = { entra: m[1], platform: m[2] };
    }
  }
  if (row.immutableIdMode) input.immutableId = { mode: row.immutableIdMode };
  if (row.interval) {
    const n = Number(row.interval);
    if (!Number.isInteger(n)) throw bad("interval", `must be whole minutes, got "${row.interval}".`);
    input.syncIntervalMinutes = n;
  }
  return input;
}

/** Reads and validates a tenant import file whole: every row, duplicates, tenants already registered. Writes nothing. */
export async function readTenantImport(deps: { tenants: Pick<TenantRegistry, "get">; clock: () => Date }, file: string): Promise<Array<{ input: Record<string, unknown>; tenant: Tenant }>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new EntraSyncError("INPUT_INVALID", `Cannot read ${file}: ${(e as Error).message}.`, { field: "file", cause: e });
  }
  const header = text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0] ?? "";
  const delimiter = header.split(";").length > header.split(",").length ? ";" : ",";
  let rows: Record<string, string>[];
  let lines: number[];
  try {
    // `info`: each record with the line it ends on, so errors name the line an editor shows.
    const parsed = parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true, delimiter, info: true }) as Array<{ record: Record<string, string>; info: { lines: number } }>;
    rows = parsed.map((p) => p.record);
    lines = parsed.map((p) => p.info.lines);
  } catch (e) {
    throw new EntraSyncError("INPUT_INVALID", `Cannot parse ${file}: ${(e as Error).message}.`, { field: "file", cause: e });
  }
  if (rows.length === 0) throw new EntraSyncError("INPUT_INVALID", `${file} holds no tenants: give a header row (${IMPORT_COLUMNS.join(", ")}) and one row per tenant.`, { field: "file" });
  const unknown = Object.keys(rows[0]!).filter((c) => !(IMPORT_COLUMNS as readonly string[]).includes(c));
  if (unknown.length) throw new EntraSyncError("INPUT_INVALID", `${file}: unknown column(s) ${unknown.join(", ")}; the columns are ${IMPORT_COLUMNS.join(", ")}. Nothing was registered.`, { field: unknown[0] });
  const now = deps.clock();
  const seen = new Set<string>();
  const tenants = rows.map((row, i) => {
    let t: Tenant;
    const line = lines[i] ?? i + 2;
    const input = rowInput(row, line, file);
    try {
      t = validateTenant(input, now);
    } catch (e) {
      if (e instanceof EntraSyncError && !e.message.includes(file)) throw new EntraSyncError(e.code, `${file}, line ${line}: ${e.message.replace(/([^.!?])$/, "$1.")} Nothing was registered.`, { field: e.field, retryable: false });
      throw e;
    }
    if (seen.has(t.tenantId)) throw new EntraSyncError("INPUT_INVALID", `${file}, line ${line}: ${t.tenantId} appears twice. Nothing was registered.`, { field: "tenantId" });
    seen.add(t.tenantId);
    return { input, tenant: t };
  });
  // One point read per tenant, 16 at a time (a 1,000-tenant file: seconds, not a thousand round trips in a row).
  const found = await mapLimit(tenants, 16, async ({ tenant: t }) => ((await deps.tenants.get(t.tenantId)) ? t.tenantId : undefined));
  const existing = found.filter((id): id is string => id !== undefined);
  if (existing.length)
    throw new EntraSyncError("INPUT_INVALID", `${file}: ${existing.length} tenant(s) are already registered (${existing.slice(0, 5).join(", ")}${existing.length > 5 ? ", …" : ""}): remove their rows (change them with entra-sync tenant update). Nothing was registered.`, { field: "tenantId" });
  return tenants;
}

/** How far an import has come: tenants registered (in transactions of 100), then tenants checked, of `total`. */
export interface ImportProgress {
  stage: "registered" | "checked";
  done: number;
  total: number;
}

/** Tenant checks run at once by `importTenants` (each a token and a few Graph reads of its own tenant). */
export const IMPORT_CHECKS_AT_ONCE = 8;

/**
 * Registers the tenants of a file (validated whole first), then checks each one's Graph permissions (`tenant check`,
 * reads only; before `secret set` it says the secret is missing), `IMPORT_CHECKS_AT_ONCE` at a time. Returns each
 * tenant with its admin-consent URL, in the file's order; `onProgress` hears of every transaction and every check.
 */
export async function importTenants(deps: { tenants: Pick<TenantRegistry, "get" | "addMany">; clock: () => Date } & Parameters<typeof checkTenant>[0], file: string, o: { onProgress?: (p: ImportProgress) => void } = {}): Promise<TenantImportRow[]> {
  const rows = await readTenantImport(deps, file);
  const total = rows.length;
  const stored = await deps.tenants.addMany(
    rows.map((r) => r.input),
    { onProgress: (done) => o.onProgress?.({ stage: "registered", done, total }) },
  );
  let checked = 0;
  return mapLimit(stored, IMPORT_CHECKS_AT_ONCE, async (t) => {
    let check: TenantImportRow["check"];
    try {
      const r = await checkTenant(deps, t.tenantId);
      check = { ok: r.ok, roles: r.roles, tokenError: r.tokenError };
    } catch (e) {
      check = { ok: false, roles: [], tokenError: { code: e instanceof EntraSyncError ? e.code : "INTERNAL", message: (e as Error).message } };
    }
    o.onProgress?.({ stage: "checked", done: ++checked, total });
    return { tenant: t, adminConsentUrl: adminConsentUrl(t), check };
  });
}

export interface RemoveDeps {
  tenants: Pick<TenantRegistry, "require" | "update">;
  secrets: Pick<SecretStore, "delete">;
  directory: Pick<PlatformDirectory, "list" | "applyUpdates">;
  tables: Record<string, TableClient>;
  /** The audit log (kept beside the platform's users, whose table is not purged). */
  audit?: Pick<AuditLog, "prune"> | undefined;
  /** The tenant's lease: a purge takes it, so that no run writes the tenant's data back while it is deleted. */
  leases: Pick<LeaseStore, "claim">;
  clock: () => Date;
}

export interface RemoveResult {
  tenantId: string;
  disabled: boolean;
  purged: boolean;
  /** What was deleted: rows per table, and the Key Vault secret. */
  deleted: Record<string, number>;
  /** Platform users kept, their Entra marks (externalId, removal marks) cleared. */
  platformUsersUnlinked: number;
  notes: string[];
}

/** Every row of a table that belongs to the tenant, by the keys the app writes them with. */
async function deleteTenantRows(table: TableClient, tenantId: string): Promise<number> {
  const filters = [
    // the tenant's own partition, and partitions named after it (connector shards `T_0`…, plans `T_<run>`, `T_!live`)
    odata`PartitionKey eq ${tenantId} or (PartitionKey ge ${`${tenantId}_`} and PartitionKey lt ${`${tenantId}\``})`,
    // registrations and settings: partition "tenant", row = tenant id
    odata`PartitionKey eq 'tenant' and RowKey eq ${tenantId}`,
    // SCIM Secret Tokens: partition "token", the tenant as a property
    odata`PartitionKey eq 'token' and tenantId eq ${tenantId}`,
    // runs the mass-change guard held, by run id: partition "!holds", the tenant as a property
    odata`PartitionKey eq ${HOLDS_PARTITION} and tenantId eq ${tenantId}`,
  ];
  let n = 0;
  for (const filter of filters) n += await deleteWhere(table, filter, `delete the rows of tenant ${tenantId} in ${table.tableName}`);
  return n;
}

/**
 * Offboards a tenant: disables it (no scheduled run starts); with `purge`, deletes its Key Vault secret and every
 * table row holding its data (registration last, so a purge stopped midway can be run again), and unlinks its
 * platform users (they belong to the platform and stay).
 */
export async function removeTenant(deps: RemoveDeps, tenantIdParam: string, o: { purge: boolean }): Promise<RemoveResult> {
  const tenantId = parseGuid(tenantIdParam, "tenantId");
  const tenant = await deps.tenants.require(tenantId);
  const out: RemoveResult = { tenantId, disabled: false, purged: false, deleted: {}, platformUsersUnlinked: 0, notes: [] };
  if (tenant.enabled) await deps.tenants.update(tenantId, { enabled: false });
  out.disabled = true;
  if (!o.purge) {
    out.notes.push(`Tenant ${tenantId} is disabled: no scheduled run starts. Its data stays; delete it with entra-sync tenant remove ${tenantId} --purge.`);
    return out;
  }
  // A run queued or under way would write back what the purge deletes (connector space, checkpoint, report, links):
  // the purge takes the tenant's lease as a run does, and waits for no run. The lease row goes with the tenant's state.
  const now = deps.clock();
  const claim = await deps.leases.claim(tenantId, newRunId(now), { owner: newOwner() });
  if (!claim.ok) {
    const held = claim.held && isActive(claim.held, now) ? claim.held : undefined;
    throw new EntraSyncError(
      "RUN_IN_PROGRESS",
      `Run ${held?.runId ?? "(another)"} of tenant ${tenantId} is ${held?.owner ? "under way" : "queued"}: nothing was purged (the tenant is disabled now, so no scheduled run starts). Purge when it has ended (entra-sync runs --tenant ${tenantId}): entra-sync tenant remove ${tenantId} --purge`,
      { retryable: true, field: "tenantId", details: { tenantId, activeRunId: held?.runId } },
    );
  }
  const secret = await deps.secrets.delete(tenantId);
  if (secret !== "absent") out.deleted.keyVaultSecret = 1;
  if (secret === "softDeleted") out.notes.push("The Key Vault secret is deleted; the vault's purge protection keeps it recoverable (not readable) until its retention ends.");
  // Platform users stay; what tied them to the customer's Entra goes.
  const updates: PlatformUpdate[] = [];
  for await (const u of deps.directory.list(tenantId)) {
    if (u.externalId || u.entraRemovedAt || u.entraRemovedReason) updates.push({ user: u, changes: { externalId: null, entraRemovedAt: null, entraRemovedReason: null } as unknown as PlatformUpdate["changes"] });
  }
  for (let i = 0; i < updates.length; i += 100) out.platformUsersUnlinked += (await deps.directory.applyUpdates(tenantId, updates.slice(i, i + 100))).updated.length;
  // The audit rows (after the unlinking above, which the directory records too): every entry, whatever its age.
  const audited = (await deps.audit?.prune(tenantId, new Date(Date.now() + 10 * 365 * 86_400_000))) ?? 0;
  if (audited) out.deleted.audit = audited;
  // Every table but the platform's own users; the registration last, so that a purge stopped midway can run again.
  const tables = Object.values(deps.tables).filter((t) => t.tableName !== TABLES.platformUsers);
  tables.sort((a, b) => Number(a.tableName === TABLES.tenants) - Number(b.tableName === TABLES.tenants));
  for (const table of tables) {
    const n = await deleteTenantRows(table, tenantId);
    if (n) out.deleted[table.tableName] = n;
  }
  out.purged = true;
  return out;
}
