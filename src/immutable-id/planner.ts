/**
 * Immutable ID sync, step 1: the plan. Candidates come from the connector space (no fresh read of the tenant):
 * Entra users with no ImmutableId, not synced from on-premises, matched to exactly one platform user whose source
 * attribute gives a value Entra accepts and nobody in the tenant has. Everything else is skipped with a reason.
 */
import type { CandidateState } from "../connector/derived.js";
import type { ConnectorRow, ConnectorSpace } from "../connector/space.js";
import type { PlatformDirectory, StoredPlatformUser } from "../directory/directory.js";
import type { ImmutableIdConfig, Tenant } from "../tenants/model.js";
import type { TenantDomains } from "../graph/tenant-graph.js";
import { entryDigest, hashHex } from "../connector/derived.js";
import { ensure, HashIndex, lookupHash, RecordFile } from "../directory/snapshot.js";
import { mapLimit } from "../util/concurrency.js";
import { encodeImmutableId } from "./encoding.js";
import { byPlanOrder, type PlanEntry } from "./plan.js";
import { SpillFile } from "./spill.js";
import { FlagTable, HELD, WANTED_TWICE } from "./value-table.js";

/** Why a user gets no ImmutableId in this run (the report's `skipped` keys). */
export type SkipReason =
  | "alreadySet"
  | "onPremisesSynced"
  | "noPlatformMatch"
  | "ambiguousMatch"
  | "emptySource"
  | "valueNotAllowed"
  | "duplicateValue"
  | "federatedDomain"
  | "privilegedUser"
  | "notFound";

/** A planned user with the connector-space row it came from (updated after the write). */
export interface PlannedUser extends PlanEntry {
  row: ConnectorRow;
}

export type { TenantDomains };

/** A full re-plan: its counts and hash, and its entries streamed from where it put them aside (see planImmutableIds). */
export interface FullPlan extends PlanSummary {
  /** A few users per reason, for the report. */
  examples: Partial<Record<SkipReason, string[]>>;
  /** Rows whose switchUpn did not finish (the process stopped between its steps): their UPN may need putting back. */
  pendingUpnRestores: ConnectorRow[];
  /** The value planned for each of those users that is planned. */
  pendingValues: Map<string, string>;
  /** The planned users, in the order the connector space listed them (not plan order), read from the spill file. */
  entries(): AsyncIterable<PlannedUser>;
  /** Releases the spill file; entries() fails after it. Safe to call twice. */
  close(): void;
}

export const upnDomain = (upn: string): string => upn.slice(upn.lastIndexOf("@") + 1).toLowerCase();

/**
 * The user as it stands once a pending switchUpn move is put back: while Entra still shows the temporary UPN of a
 * move recorded in the row, the original UPN. Update sync maps and matches this, never the temporary UPN.
 */
export function settledUser(row: ConnectorRow): ConnectorRow["user"] {
  const move = row.upnSwitch;
  const upn = row.user.userPrincipalName;
  if (!move || !upn || upn.toLowerCase() !== move.temporary.toLowerCase()) return row.user;
  return { ...row.user, userPrincipalName: move.original };
}

/** The platform attribute a tenant takes the value from. */
export function sourceValue(user: StoredPlatformUser, source: ImmutableIdConfig["source"]): string | undefined {
  return source === "id" ? user.id : user[source];
}

/** A row's state before values are compared across users: `planned` means "proposes `value`". */
export function evaluateRow(row: ConnectorRow, p: StoredPlatformUser | undefined, cfg: ImmutableIdConfig, domains: TenantDomains): CandidateState {
  const state = evaluate(row, p, cfg, domains);
  const held = row.user.onPremisesImmutableId || undefined;
  const move = (!row.removed && row.upnSwitch?.value) || undefined;
  if (held) state.held = held;
  if (move) state.move = move;
  return state;
}

function evaluate(row: ConnectorRow, p: StoredPlatformUser | undefined, cfg: ImmutableIdConfig, domains: TenantDomains): CandidateState {
  if (row.removed) return { cat: "removed" };
  if (row.user.onPremisesImmutableId) return { cat: "alreadySet" };
  if (row.user.onPremisesSyncEnabled) return { cat: "onPremisesSynced" };
  if (row.match === "ambiguous") return { cat: "ambiguousMatch" };
  if (row.match !== "matched" || !row.platformUserId) return { cat: "noPlatformMatch" };
  // The platform user may have been relinked since update sync: trust the match only while it still holds.
  if (!p || (p.externalId !== undefined && p.externalId !== row.id)) return { cat: "noPlatformMatch" };
  const enc = encodeImmutableId(sourceValue(p, cfg.source), cfg.encoding);
  if (!enc.ok) return { cat: enc.reason };
  const upn = settledUser(row).userPrincipalName ?? "";
  let action: PlanEntry["action"] = "write";
  if (domains.federated.has(upnDomain(upn))) {
    if (cfg.federatedDomains !== "switchUpn" || !domains.initial) return { cat: "federatedDomain" };
    action = "switchUpn";
  }
  return { cat: "planned", value: enc.value, upn, platformUserId: p.id, action };
}

/** Users that need the platform user read to be evaluated (live candidates with a single match). */
export const needsPlatform = (row: ConnectorRow): boolean =>
  !row.removed && !row.user.onPremisesImmutableId && !row.user.onPremisesSyncEnabled && row.match === "matched" && !!row.platformUserId;

/** What the step needs of a plan before it writes anything. */
export interface PlanSummary {
  tenantUsers: number;
  candidates: number;
  planned: number;
  skipped: Partial<Record<SkipReason, number>>;
  hash: string;
}

export function summarize(counts: Record<string, number>, hash: string): PlanSummary {
  const out: PlanSummary = { tenantUsers: 0, candidates: 0, planned: 0, skipped: {}, hash };
  for (const [cat, n] of Object.entries(counts)) {
    if (n <= 0) continue;
    out.tenantUsers += n;
    if (cat !== "alreadySet" && cat !== "onPremisesSynced") out.candidates += n;
    if (cat === "planned") out.planned += n;
    else out.skipped[cat as SkipReason] = n;
  }
  return out;
}

/** A planned user as a plan entry, from its row's candidate state. */
export const plannedFromRow = (row: ConnectorRow): PlannedUser => ({
  entraId: row.id,
  userPrincipalName: row.iid?.upn ?? "",
  value: row.iid?.value ?? "",
  platformUserId: row.iid?.platformUserId ?? "",
  action: row.iid?.action ?? "write",
  row,
});

export { byPlanOrder };

/** Rows concluded per store call (each call builds its transactions' entities at once). */
export const PLAN_PAGE = 1000;
/** Fewer rows than this needing their platform user: point reads instead of a listing of the platform directory. */
const POINT_READS_BELOW = 200;
/** Rows listed before deciding how platform users are read, at most. */
const DECIDE_WITHIN = 5000;
/** Rows whose platform users are read from the re-plan's file together. */
const READ_TOGETHER = 200;

export interface PlanOptions {
  /**
   * Receives every row with its concluded state (`iid`), a page at a time, in no particular order; the row is not
   * kept after. Without it the states are dropped (a dry run).
   */
  store?: ((rows: ConnectorRow[]) => Promise<void>) | undefined;
  /** Rows per store call (default PLAN_PAGE). */
  pageSize?: number | undefined;
}

/**
 * Builds the plan of one tenant from the whole connector space and the platform directory (a full re-plan). Reads
 * only, but for what `o.store` does with the states.
 *
 * Memory does not grow with the tenant but by a few dozen bytes per user in typed arrays: the connector space is
 * listed once and each row concluded as it streams by, page by page. A user's platform user comes from one listing of
 * the platform directory into the encrypted temporary file (id, externalId and the source value per user; a 32-bit
 * hash of the id → its record in typed arrays, checked on the decoded record, so a collision costs a read; a few
 * hundred rows' users read together) — or, for a tenant with few matched users, a point read each. Whether a value is
 * unique is known only once every row was seen: rows that would get a value are put aside in a spill file (their slim
 * row and state, on disk) and concluded after the listing from a table of every value's 64-bit hash with its flags
 * (held by someone; wanted once; wanted twice or more) — see value-table.ts. What is kept in memory per user: those
 * hashes, the directory's index, nothing else.
 */
export async function planImmutableIds(deps: { connector: Pick<ConnectorSpace, "list">; directory: Pick<PlatformDirectory, "get" | "list"> }, tenant: Tenant, domains: TenantDomains, o: PlanOptions = {}): Promise<FullPlan> {
  const cfg = tenant.immutableId;
  const tenantId = tenant.tenantId;
  const pageSize = o.pageSize ?? PLAN_PAGE;
  const out = { tenantUsers: 0, candidates: 0, planned: 0, skipped: {} as Partial<Record<SkipReason, number>>, examples: {} as Partial<Record<SkipReason, string[]>> };
  // Values held by anyone (soft-deleted users keep theirs and can be restored), and values wanted: compared
  // case-insensitively to be safe, although Entra compares exactly.
  const values = new FlagTable();
  // Values an unfinished switchUpn move holds for its user (in flight): nobody else gets them meanwhile. Rare.
  const inFlight = new Map<string, string>();
  const pending: ConnectorRow[] = [];
  const pendingValues = new Map<string, string>();
  const spill = new SpillFile<ConnectorRow>();
  let platform: PlatformIndex | undefined;
  let hashSum = 0n;
  let page: ConnectorRow[] = [];
  const flush = async () => {
    const rows = page;
    page = [];
    if (rows.length && o.store) await o.store(rows);
  };
  const conclude = async (row: ConnectorRow) => {
    const state = row.iid!;
    if (state.cat !== "removed") {
      out.tenantUsers++;
      if (state.cat !== "alreadySet" && state.cat !== "onPremisesSynced") out.candidates++;
      if (state.cat === "planned") {
        out.planned++;
        hashSum += entryDigest(plannedFromRow(row));
      } else {
        const reason = state.cat as SkipReason;
        out.skipped[reason] = (out.skipped[reason] ?? 0) + 1;
        const ex = (out.examples[reason] ??= []);
        if (ex.length < 50) ex.push(row.id);
      }
    }
    page.push(row);
    if (page.length >= pageSize) await flush();
  };
  // A row that would get a value waits for every other row to be seen; any other row is concluded at once.
  const take = async (row: ConnectorRow, p: StoredPlatformUser | undefined) => {
    row.iid = evaluateRow(row, p, cfg, domains);
    if (row.iid.cat !== "planned") return conclude(row);
    values.want(row.iid.value!.toLowerCase());
    spill.append(row);
  };
  // A value someone has, that two users would get, or that a move holds for someone else is written to nobody.
  const verdict = (row: ConnectorRow): ConnectorRow => {
    const state = row.iid!;
    const k = state.value!.toLowerCase();
    const mover = inFlight.get(k);
    if (values.get(k) & (HELD | WANTED_TWICE) || (mover !== undefined && mover !== row.id)) state.cat = "duplicateValue";
    return row;
  };
  // Rows whose platform users are read from the listing's file together (one read for neighbours, one decipher).
  const takeAll = async (rows: ConnectorRow[]) => {
    const needing = rows.filter(needsPlatform);
    const users = platform!.getMany(needing.map((r) => r.platformUserId!));
    const byRow = new Map(needing.map((r, i) => [r, users[i]]));
    for (const r of rows) await take(r, byRow.get(r));
  };
  try {
    let waiting: ConnectorRow[] | undefined = [];
    let needing = 0;
    let batch: ConnectorRow[] = [];
    for await (const listed of deps.connector.list(tenantId)) {
      if (listed.upnSwitch && !listed.removed) pending.push(listed);
      if (listed.upnSwitch?.value && !listed.removed) inFlight.set(listed.upnSwitch.value.toLowerCase(), listed.id);
      const held = listed.user.onPremisesImmutableId;
      if (held) values.set(held.toLowerCase(), HELD);
      const row = slimRow(listed);
      if (!waiting) {
        batch.push(row);
        if (batch.length >= READ_TOGETHER) {
          await takeAll(batch);
          batch = [];
        }
        continue;
      }
      waiting.push(row);
      if (needsPlatform(row)) needing++;
      if (needing >= POINT_READS_BELOW || waiting.length >= DECIDE_WITHIN) {
        platform = await listPlatform(deps.directory, tenantId, cfg.source);
        for (let i = 0; i < waiting.length; i += READ_TOGETHER) await takeAll(waiting.slice(i, i + READ_TOGETHER));
        waiting = undefined;
      }
    }
    if (batch.length) await takeAll(batch);
    if (waiting) {
      const toRead = waiting.filter(needsPlatform);
      const users = await mapLimit(toRead, 32, (r) => deps.directory.get(tenantId, r.platformUserId!));
      const byRow = new Map(toRead.map((r, i) => [r, users[i]]));
      for (const r of waiting) await take(r, byRow.get(r));
    }
    platform?.close();
    platform = undefined; // its index is garbage from here on
    const pendingIds = new Set(pending.map((r) => r.id));
    for await (const row of spill.read()) {
      await conclude(verdict(row));
      if (row.iid!.cat === "planned" && pendingIds.has(row.id)) pendingValues.set(row.id, row.iid!.value!);
    }
    await flush();
  } catch (e) {
    platform?.close();
    spill.close();
    throw e;
  }
  return {
    ...out,
    hash: hashHex(hashSum),
    pendingUpnRestores: pending,
    pendingValues,
    async *entries() {
      for await (const row of spill.read()) if (verdict(row).iid!.cat === "planned") yield plannedFromRow(row);
    },
    close: () => spill.close(),
  };
}

/** A tenant's platform users by id, as a full re-plan reads them: what evaluating a row needs, nothing else. */
interface PlatformIndex {
  /** The platform users of these ids (undefined where there is none), read from the file together. */
  getMany(ids: readonly string[]): (StoredPlatformUser | undefined)[];
  close(): void;
}

/**
 * Lists the tenant's platform directory once into an encrypted temporary file (per user a JSON array: id,
 * externalId, the source value), with a 32-bit hash of each id → its record number, and each record's offset and
 * length, in typed arrays (16 to 24 bytes per user).
 */
async function listPlatform(directory: Pick<PlatformDirectory, "list">, tenantId: string, source: ImmutableIdConfig["source"]): Promise<PlatformIndex> {
  const file = new RecordFile("The full Immutable ID re-plan");
  const index = new HashIndex();
  let at = new Float64Array(1024);
  let length = new Int32Array(1024);
  let n = 0;
  try {
    for await (const u of directory.list(tenantId)) {
      const record = file.append(JSON.stringify([u.id, u.externalId ?? null, source === "id" ? null : (sourceValue(u, source) ?? null)]));
      at = ensure(at, n + 1, (len) => new Float64Array(len));
      length = ensure(length, n + 1, (len) => new Int32Array(len));
      at[n] = record.at;
      length[n] = record.length;
      index.add(lookupHash(u.id), n++);
    }
    file.flush();
  } catch (e) {
    file.close();
    throw e;
  }
  return {
    getMany(ids) {
      // Every record whose id hash matches (a collision costs one more record read), then the id checked decoded.
      const asked: number[] = [];
      const records: number[] = [];
      ids.forEach((id, i) => {
        for (const r of index.find(lookupHash(id))) {
          asked.push(i);
          records.push(r);
        }
      });
      const texts = file.readMany(
        records.map((r) => at[r]!),
        records.map((r) => length[r]!),
      );
      const out = new Array<StoredPlatformUser | undefined>(ids.length);
      texts.forEach((text, k) => {
        const [uid, externalId, value] = JSON.parse(text) as [string, string | null, string | null];
        if (uid !== ids[asked[k]!]) return;
        const u = { id: uid, tenantId } as StoredPlatformUser;
        if (externalId !== null) u.externalId = externalId;
        if (value !== null && source !== "id") (u as unknown as Record<string, string>)[source] = value;
        out[asked[k]!] = u;
      });
      return out;
    },
    close: () => file.close(),
  };
}

/**
 * A row as a full re-plan keeps it until its state is stored: what `evaluateRow` and storing the state read (match,
 * removal and its time, a pending UPN move, the UPN, ImmutableId and on-premises flag, the stored keys), not the whole
 * Entra user.
 */
function slimRow(row: ConnectorRow): ConnectorRow {
  const u = row.user;
  const user: ConnectorRow["user"] = { id: row.id };
  if (u.userPrincipalName) user.userPrincipalName = u.userPrincipalName;
  if (u.onPremisesImmutableId) user.onPremisesImmutableId = u.onPremisesImmutableId;
  if (u.onPremisesSyncEnabled) user.onPremisesSyncEnabled = u.onPremisesSyncEnabled;
  // Only the fields set: every property costs a slot, undefined ones too.
  const slim: ConnectorRow = { id: row.id, user, match: row.match, platformUserId: row.platformUserId, iid: undefined };
  if (row.removed) slim.removed = row.removed;
  if (row.removedAt) slim.removedAt = row.removedAt;
  if (row.upnSwitch) slim.upnSwitch = row.upnSwitch;
  if (row.iidDirty) slim.iidDirty = row.iidDirty;
  if (row.stored) slim.stored = row.stored;
  return slim;
}

/** The most writes one run may do under the tenant's cap (count and percentage, whichever is lower). */
export function capOf(cfg: ImmutableIdConfig, tenantUsers: number): number {
  return Math.min(cfg.maxWritesPerRun, Math.floor((cfg.maxPercentPerRun / 100) * tenantUsers));
}
