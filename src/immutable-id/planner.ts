/**
 * Immutable ID sync, step 1: the plan. Candidates come from the connector space (no fresh read of the tenant):
 * Entra users with no ImmutableId, not synced from on-premises, matched to exactly one platform user whose source
 * attribute gives a value Entra accepts and nobody in the tenant has. Everything else is skipped with a reason.
 */
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

/** Builds the plan of one tenant from the connector space and the platform directory. Reads only; writes nothing. */
export async function planImmutableIds(deps: { connector: Pick<ConnectorSpace, "list">; directory: Pick<PlatformDirectory, "get" | "list"> }, tenant: Tenant, domains: TenantDomains): Promise<Plan> {
  const cfg = tenant.immutableId;
  const plan: Plan = { entries: [], tenantUsers: 0, candidates: 0, skipped: {}, examples: {}, pendingUpnRestores: [] };
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
  const toRead: ConnectorRow[] = [];
  for await (const row of deps.connector.list(tenant.tenantId)) {
    if (row.upnSwitch && !row.removed) plan.pendingUpnRestores.push(row);
    if (row.upnSwitch?.value && !row.removed) inFlight.set(row.upnSwitch.value.toLowerCase(), row.id);
    const existing = row.user.onPremisesImmutableId;
    if (existing) taken.add(existing.toLowerCase());
    if (row.removed) continue;
    plan.tenantUsers++;
    if (existing) skip("alreadySet", row.id);
    else if (row.user.onPremisesSyncEnabled) skip("onPremisesSynced", row.id);
    else {
      plan.candidates++;
      if (row.match === "ambiguous") skip("ambiguousMatch", row.id);
      else if (row.match !== "matched" || !row.platformUserId) skip("noPlatformMatch", row.id);
      else toRead.push(row);
    }
  }

  const platform = await readPlatformUsers(deps.directory, tenant.tenantId, toRead.map((r) => r.platformUserId!));
  const proposed: PlannedUser[] = [];
  toRead.forEach((row, i) => {
    const p = platform[i];
    // The platform user may have been relinked since update sync: trust the match only while it still holds.
    if (!p || (p.externalId !== undefined && p.externalId !== row.id)) return skip("noPlatformMatch", row.id);
    const enc = encodeImmutableId(sourceValue(p, cfg.source), cfg.encoding);
    if (!enc.ok) return skip(enc.reason, row.id);
    const upn = settledUser(row).userPrincipalName ?? "";
    let action: PlanEntry["action"] = "write";
    if (domains.federated.has(upnDomain(upn))) {
      if (cfg.federatedDomains !== "switchUpn" || !domains.initial) return skip("federatedDomain", row.id);
      action = "switchUpn";
    }
    proposed.push({ entraId: row.id, userPrincipalName: upn, value: enc.value, platformUserId: p.id, action, row });
  });

  // A value someone has, or that two users of this run would get, is written to nobody: never guess who owns it.
  const count = new Map<string, number>();
  for (const e of proposed) count.set(e.value.toLowerCase(), (count.get(e.value.toLowerCase()) ?? 0) + 1);
  for (const e of proposed) {
    const k = e.value.toLowerCase();
    const mover = inFlight.get(k);
    if (taken.has(k) || (count.get(k) ?? 0) > 1 || (mover !== undefined && mover !== e.entraId)) skip("duplicateValue", e.entraId);
    else plan.entries.push(e);
  }
  plan.entries.sort((a, b) => (a.userPrincipalName < b.userPrincipalName ? -1 : a.userPrincipalName > b.userPrincipalName ? 1 : a.entraId < b.entraId ? -1 : 1));
  return plan;
}

/** Point reads for a few users; one scan of the tenant's platform users when many are needed (far fewer round trips). */
async function readPlatformUsers(directory: Pick<PlatformDirectory, "get" | "list">, tenantId: string, ids: string[]): Promise<Array<StoredPlatformUser | undefined>> {
  if (ids.length < 200) return mapLimit(ids, 32, (id) => directory.get(tenantId, id));
  const wanted = new Set(ids);
  const byId = new Map<string, StoredPlatformUser>();
  for await (const u of directory.list(tenantId)) if (wanted.has(u.id)) byId.set(u.id, u);
  return ids.map((id) => byId.get(id));
}

/** The most writes one run may do under the tenant's cap (count and percentage, whichever is lower). */
export function capOf(cfg: ImmutableIdConfig, tenantUsers: number): number {
  return Math.min(cfg.maxWritesPerRun, Math.floor((cfg.maxPercentPerRun / 100) * tenantUsers));
}
