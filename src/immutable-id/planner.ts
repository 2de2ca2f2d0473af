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
  return { ...state, ...(held ? { held } : {}), ...(move ? { move } : {}) };
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
    rows.push(row);
  }
  const toRead = rows.filter(needsPlatform);
  const platform = await readPlatformUsers(deps.directory, tenant.tenantId, toRead.map((r) => r.platformUserId!), cfg.source);
  const byId = new Map(toRead.map((r, i) => [r.id, platform[i]]));
  const states = rows.map((row) => ({ row, state: evaluateRow(row, byId.get(row.id), cfg, domains) }));

  // A value someone has, or that two users of this run would get, is written to nobody: never guess who owns it.
  const count = new Map<string, number>();
  for (const { state } of states) if (state.cat === "planned") count.set(state.value!.toLowerCase(), (count.get(state.value!.toLowerCase()) ?? 0) + 1);
  for (const { row, state } of states) {
    if (state.cat === "planned") {
      const k = state.value!.toLowerCase();
      const mover = inFlight.get(k);
      if (taken.has(k) || (count.get(k) ?? 0) > 1 || (mover !== undefined && mover !== row.id)) state.cat = "duplicateValue";
    }
    if (state.cat === "removed") {
      plan.states.push({ ...row, iid: state });
      continue;
    }
    plan.tenantUsers++;
    if (state.cat !== "alreadySet" && state.cat !== "onPremisesSynced") plan.candidates++;
    if (state.cat === "planned") plan.entries.push({ entraId: row.id, userPrincipalName: state.upn!, value: state.value!, platformUserId: state.platformUserId!, action: state.action!, row });
    else skip(state.cat as SkipReason, row.id);
    plan.states.push({ ...row, iid: state });
  }
  plan.entries.sort(byPlanOrder);
  return plan;
}

/**
 * The platform users of these ids, as far as planning needs them (id, externalId and the source attribute): point
 * reads for a few users, one scan of the tenant's platform users when many are needed (far fewer round trips). A
 * scan keeps only those fields, not whole users: at 100,000 users that is the difference between a few and some
 * 50 MB of heap.
 */
async function readPlatformUsers(directory: Pick<PlatformDirectory, "get" | "list">, tenantId: string, ids: string[], source: ImmutableIdConfig["source"]): Promise<Array<StoredPlatformUser | undefined>> {
  if (ids.length < 200) return mapLimit(ids, 32, (id) => directory.get(tenantId, id));
  const wanted = new Set(ids);
  const byId = new Map<string, StoredPlatformUser>();
  for await (const u of directory.list(tenantId)) {
    if (!wanted.has(u.id)) continue;
    const slim: Record<string, unknown> = { id: u.id, tenantId: u.tenantId, etag: u.etag, externalId: u.externalId };
    if (source !== "id") slim[source] = u[source];
    byId.set(u.id, slim as unknown as StoredPlatformUser);
  }
  return ids.map((id) => byId.get(id));
}

/** The most writes one run may do under the tenant's cap (count and percentage, whichever is lower). */
export function capOf(cfg: ImmutableIdConfig, tenantUsers: number): number {
  return Math.min(cfg.maxWritesPerRun, Math.floor((cfg.maxPercentPerRun / 100) * tenantUsers));
}
