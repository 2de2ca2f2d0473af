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
import { mapLimit } from "../util/concurrency.js";
import { encodeImmutableId } from "./encoding.js";
import type { PlanEntry } from "./plan.js";

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

export interface Plan {
  entries: PlannedUser[];
  /** Live Entra users in the connector space (the base of the percentage cap). */
  tenantUsers: number;
  /** Users without an ImmutableId and not synced from on-premises. */
  candidates: number;
  skipped: Partial<Record<SkipReason, number>>;
  /** A few users per reason, for the report. */
  examples: Partial<Record<SkipReason, string[]>>;
  /** Rows whose switchUpn did not finish (the process stopped between its steps): their UPN may need putting back. */
  pendingUpnRestores: ConnectorRow[];
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

export const byPlanOrder = (a: PlanEntry, b: PlanEntry): number =>
  a.userPrincipalName < b.userPrincipalName ? -1 : a.userPrincipalName > b.userPrincipalName ? 1 : a.entraId < b.entraId ? -1 : 1;

/**
 * Builds the plan of one tenant from the whole connector space and the platform directory (a full re-plan). Reads
 * only; `states` holds each row with the state it concluded, for the caller to store.
 *
 * Memory: it keeps per user a slim row (what evaluating and storing its state read: no whole Entra user) and no
 * platform users: the connector space is listed once, then the platform directory is listed once and each platform
 * user is evaluated against the row matched to it as it streams by and dropped. So the entries' `row`s are slim too:
 * read the rows afresh (`connector.getMany`) before writing them back.
 */
export async function planImmutableIds(deps: { connector: Pick<ConnectorSpace, "list">; directory: Pick<PlatformDirectory, "get" | "list"> }, tenant: Tenant, domains: TenantDomains): Promise<Plan & { states: ConnectorRow[] }> {
  const cfg = tenant.immutableId;
  const plan: Plan & { states: ConnectorRow[] } = { entries: [], tenantUsers: 0, candidates: 0, skipped: {}, examples: {}, pendingUpnRestores: [], states: [] };
  const skip = (reason: SkipReason, id: string) => {
    plan.skipped[reason] = (plan.skipped[reason] ?? 0) + 1;
    const ex = (plan.examples[reason] ??= []);
    if (ex.length < 50) ex.push(id);
  };
  // Values held by anyone (soft-deleted users keep theirs and can be restored): compared case-insensitively to be
  // safe, although Entra compares exactly.
  const taken = new Set<string>();
  // Values an unfinished switchUpn move holds for its user (in flight): nobody else gets them meanwhile.
  const inFlight = new Map<string, string>();
  const rows: ConnectorRow[] = [];
  for await (const row of deps.connector.list(tenant.tenantId)) {
    if (row.upnSwitch && !row.removed) plan.pendingUpnRestores.push(row);
    if (row.upnSwitch?.value && !row.removed) inFlight.set(row.upnSwitch.value.toLowerCase(), row.id);
    const existing = row.user.onPremisesImmutableId;
    if (existing) taken.add(existing.toLowerCase());
    rows.push(slimRow(row));
  }
  const states = await evaluateAll(deps.directory, tenant.tenantId, rows, cfg, domains);

  // A value someone has, or that two users of this run would get, is written to nobody: never guess who owns it.
  const count = new Map<string, number>();
  for (const state of states) if (state.cat === "planned") count.set(state.value!.toLowerCase(), (count.get(state.value!.toLowerCase()) ?? 0) + 1);
  rows.forEach((row, i) => {
    const state = states[i]!;
    if (state.cat === "planned") {
      const k = state.value!.toLowerCase();
      const mover = inFlight.get(k);
      if (taken.has(k) || (count.get(k) ?? 0) > 1 || (mover !== undefined && mover !== row.id)) state.cat = "duplicateValue";
    }
    const slim = stateOf(row, state);
    plan.states.push(slim);
    if (state.cat === "removed") return;
    plan.tenantUsers++;
    if (state.cat !== "alreadySet" && state.cat !== "onPremisesSynced") plan.candidates++;
    if (state.cat === "planned") plan.entries.push({ entraId: row.id, userPrincipalName: state.upn!, value: state.value!, platformUserId: state.platformUserId!, action: state.action!, row: slim });
    else skip(state.cat as SkipReason, row.id);
  });
  plan.entries.sort(byPlanOrder);
  return plan;
}

/**
 * A row as a full re-plan keeps it until its state is stored: what `evaluateRow` and storing the state read (match,
 * removal, a pending UPN move, the UPN, ImmutableId and on-premises flag, the stored keys — shared with the row, as
 * writes update them in place), not the whole Entra user.
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
  if (row.upnSwitch) slim.upnSwitch = row.upnSwitch;
  if (row.iidDirty) slim.iidDirty = row.iidDirty;
  if (row.stored) slim.stored = row.stored;
  return slim;
}

/** The row with its new candidate state (the row is slim already, and not kept otherwise: set in place). */
const stateOf = (row: ConnectorRow, iid: CandidateState): ConnectorRow => {
  row.iid = iid;
  return row;
};

/**
 * Each row's state before values are compared. The platform users are read by point reads when few are needed, else
 * by one listing of the tenant's platform users, each evaluated against its row as it streams by and dropped: far
 * fewer round trips, and no platform user is kept.
 */
async function evaluateAll(directory: Pick<PlatformDirectory, "get" | "list">, tenantId: string, rows: readonly ConnectorRow[], cfg: ImmutableIdConfig, domains: TenantDomains): Promise<CandidateState[]> {
  const states: Array<CandidateState | undefined> = rows.map((r) => (needsPlatform(r) ? undefined : evaluateRow(r, undefined, cfg, domains)));
  const waiting: number[] = [];
  rows.forEach((_r, i) => {
    if (!states[i]) waiting.push(i);
  });
  if (waiting.length < 200) {
    const users = await mapLimit(waiting, 32, (i) => directory.get(tenantId, rows[i]!.platformUserId!));
    waiting.forEach((i, k) => (states[i] = evaluateRow(rows[i]!, users[k], cfg, domains)));
  } else {
    // Platform user id → the rows matched to it (one, as a rule).
    const byPlatform = new Map<string, number | number[]>();
    for (const i of waiting) {
      const id = rows[i]!.platformUserId!;
      const had = byPlatform.get(id);
      byPlatform.set(id, had === undefined ? i : typeof had === "number" ? [had, i] : [...had, i]);
    }
    for await (const u of directory.list(tenantId)) {
      const hit = byPlatform.get(u.id);
      if (hit === undefined) continue;
      for (const i of typeof hit === "number" ? [hit] : hit) states[i] = evaluateRow(rows[i]!, u, cfg, domains);
    }
  }
  // A row whose platform user is gone: evaluated without one.
  return states.map((s, i) => s ?? evaluateRow(rows[i]!, undefined, cfg, domains));
}

/** The most writes one run may do under the tenant's cap (count and percentage, whichever is lower). */
export function capOf(cfg: ImmutableIdConfig, tenantUsers: number): number {
  return Math.min(cfg.maxWritesPerRun, Math.floor((cfg.maxPercentPerRun / 100) * tenantUsers));
}
