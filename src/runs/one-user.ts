/**
 * One user on demand (`entra-sync run --tenant G --user <id|upn>`, `POST /api/tenants/{t}/users/{user}/sync`): reads
 * that user from Graph with a GET (not delta), and shows each step of a run for it — the Entra values, the mapping per
 * attribute with its source, the match (keys tried, candidates), the diff, the Immutable ID decision — then writes
 * unless it is a dry run. It takes the tenant's lease like a run (RUN_IN_PROGRESS otherwise), is recorded in the run
 * history as a run of its own, and never moves the tenant's delta checkpoint.
 */
import type { ConnectorRow } from "../connector/space.js";
import type { PlatformUpdate, StoredPlatformUser } from "../directory/directory.js";
import { directLookup } from "../directory/snapshot.js";
import { EntraSyncError, toEntraSyncError } from "../errors.js";
import { newGraphCounters } from "../graph/client.js";
import type { TenantDomains, TenantGraph } from "../graph/tenant-graph.js";
import type { GraphUser } from "../graph/users.js";
import { settledUser, evaluateRow, type PlannedUser } from "../immutable-id/planner.js";
import { writeImmutableIds } from "../immutable-id/writer.js";
import { explainMapping, mapUser, selectFor, type MappedValue } from "../mapping/mapping.js";
import { matchUsers } from "../sync/match.js";
import { diff } from "../sync/update-sync.js";
import type { Tenant } from "../tenants/model.js";
import type { WritePacer } from "../graph/write-budget.js";
import { endRun, newRunReport, type RunDeps } from "./execute.js";
import { newOwner, type LeaseStore } from "./lease.js";
import { runInProgress } from "./start.js";
import { addError } from "./report.js";
import type { AuditLog } from "../audit/store.js";
import { entraWriteEntries, isSensitive, MASKED } from "../audit/entry.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Write permissions that let Graph take an ImmutableId (the least privileged first). */
const WRITE_ROLES = ["User.ReadWrite.All", "Directory.ReadWrite.All"];

export interface OneUserDeps extends Pick<RunDeps, "tenants" | "secrets" | "graphFor" | "directory" | "connector" | "runs" | "clock" | "log" | "runObservers"> {
  leases: Pick<LeaseStore, "claim" | "release">;
  writeBudget(tenant: Pick<Tenant, "tenantId" | "clientId">): WritePacer;
  /** The audit log, for the one-user run's write into Entra (its platform write is audited by the directory). */
  audit?: Pick<AuditLog, "record"> | undefined;
  /** AUDIT_SENSITIVE_ATTRIBUTES: whose values the answer masks, with the tenant's own (default ssn, birthDate). */
  settings?: { audit?: { sensitive: readonly string[] } } | undefined;
}

/** AUDIT_SENSITIVE_ATTRIBUTES' default, for callers without settings. */
const DEFAULT_SENSITIVE = ["ssn", "birthDate"];

/**
 * Masks what the answer shows of sensitive attributes, as the audit log does: their values in the mapping and the
 * diff, and the Entra properties they come from (every source the mapping tries, extension attributes included).
 * Only the answer is masked; what is written is the real value.
 */
export function maskSensitive(result: OneUserResult, sensitive: ReadonlySet<string>): OneUserResult {
  const mask = <T>(v: T): T | string => (v === null || v === undefined || v === "" ? v : MASKED);
  const properties = new Set<string>();
  const mapping = result.mapping.map((m) => {
    if (!isSensitive(m.attribute, sensitive)) return m;
    for (const p of m.sources) properties.add(p);
    if (m.source) properties.add(m.source);
    return { ...m, value: mask(m.value) as string | null };
  });
  const diff = result.diff.map((d) => (isSensitive(d.attribute, sensitive) ? { ...d, from: mask(d.from) as string | null, to: mask(d.to) as string | null } : d));
  const entra: Record<string, unknown> = { ...result.entra };
  const ext = entra.onPremisesExtensionAttributes && typeof entra.onPremisesExtensionAttributes === "object" ? { ...(entra.onPremisesExtensionAttributes as Record<string, unknown>) } : undefined;
  for (const p of properties) {
    if (ext && p in ext) ext[p] = mask(ext[p]);
    else if (p in entra && p !== "id") entra[p] = Array.isArray(entra[p]) ? (entra[p] as unknown[]).map(mask) : mask(entra[p]);
  }
  if (ext) entra.onPremisesExtensionAttributes = ext;
  return { ...result, mapping, diff, entra: entra as unknown as OneUserResult["entra"] };
}

export interface OneUserRequest {
  tenantId: string;
  /** The Entra user: object id or userPrincipalName. */
  user: string;
  dryRun: boolean;
}

/** One key the match tried, with the platform users it found. */
export interface MatchKey {
  /** `externalId = id`, or the tenant's linking key, e.g. `userPrincipalName → userName`. */
  key: string;
  value: string | null;
  candidates: string[];
}

export interface OneUserResult {
  tenantId: string;
  runId: string;
  dryRun: boolean;
  /** What happened to the platform user. */
  outcome: "updated" | "unchanged" | "unmatched" | "ambiguous" | "failed";
  entra: GraphUser & { birthday?: string | null };
  mapping: MappedValue[];
  match: {
    result: "matched" | "unmatched" | "ambiguous";
    platformUserId?: string | undefined;
    /** The match set externalId on a platform user that had none (linking). */
    linked?: boolean | undefined;
    keysTried: MatchKey[];
    /** Why it is unmatched or ambiguous, and what to do. */
    why?: string | undefined;
  };
  /** The attributes that change: platform value before → after. */
  diff: Array<{ attribute: string; from: string | null; to: string | null }>;
  immutableId: {
    mode: Tenant["immutableId"]["mode"];
    /** `write`/`switchUpn` (planned), `written`, or why not (a skip reason, `off`, `missingPermission`, `failed`). */
    decision: string;
    value?: string | undefined;
    reason: string;
  };
  /** What was written (nothing in a dry run). */
  written: { platform: boolean; immutableId: boolean };
  graphRequests: number;
}

/** Parses the user key: an object id (GUID) or a UPN (`name@domain`). */
export function parseUserKey(value: unknown): string {
  const v = typeof value === "string" ? value.trim() : "";
  if (GUID.test(v)) return v.toLowerCase();
  if (/^[^@\s/\\?#]+@[^@\s/\\?#]+\.[^@\s/\\?#]+$/.test(v)) return v;
  throw new EntraSyncError("INPUT_INVALID", `user must be an Entra object id (a GUID) or a userPrincipalName like anna@school.example, got ${JSON.stringify(value)}.`, { field: "user", retryable: false });
}

/** Syncs one user now and explains each step. Takes the tenant's lease for the few seconds it works. */
export async function syncOneUser(app: OneUserDeps, req: OneUserRequest): Promise<OneUserResult> {
  const tenant = await app.tenants.require(req.tenantId);
  const key = parseUserKey(req.user);
  const now = app.clock();
  const report = newRunReport(tenant, { tenantId: tenant.tenantId, trigger: "manual", mode: "incremental", dryRun: req.dryRun, only: ["update", "immutableId"] }, now);
  const claim = await app.leases.claim(tenant.tenantId, report.runId, { owner: newOwner() });
  if (!claim.ok) throw runInProgress(tenant.tenantId, claim.held, now);
  const lease = claim.lease;
  try {
    report.status = "running";
    report.startedAt = now.toISOString();
    report.notices.push(`One user on demand: ${key}${req.dryRun ? " (dry run)" : ""}; the delta checkpoint does not move.`);
    await app.runs.save(report);
    let result: OneUserResult | undefined;
    let failure: EntraSyncError | undefined;
    const counters = newGraphCounters();
    try {
      const secret = await app.secrets.get(tenant.tenantId);
      const { graph } = app.graphFor(tenant, secret, counters);
      result = await explainAndApply(app, tenant, graph, key, req.dryRun, report.runId);
      result.graphRequests = counters.requests;
      report.update.read = 1;
      report.update.matched = result.match.result === "matched" ? 1 : 0;
      report.update.unmatched = result.match.result === "unmatched" ? 1 : 0;
      report.update.ambiguous = result.match.result === "ambiguous" ? 1 : 0;
      report.update.updated = result.outcome === "updated" ? 1 : 0;
      report.update.unchanged = result.outcome === "unchanged" ? 1 : 0;
      report.update.failed = result.outcome === "failed" ? 1 : 0;
      if (result.outcome === "failed") addError(report, "STORAGE_CONFLICT", `The platform user ${result.match.platformUserId ?? ""} could not be updated (it changed meanwhile); run the user again.`, [result.entra.id]);
      report.notices.push(`${result.entra.userPrincipalName ?? result.entra.id}: ${result.outcome}; Immutable ID: ${result.immutableId.decision}.`);
    } catch (e) {
      failure = toEntraSyncError(e);
    }
    report.graph = { ...counters };
    await endRun(app, report, { failure, notify: false });
    if (failure) throw failure;
    return maskSensitive(result!, new Set([...(app.settings?.audit?.sensitive ?? DEFAULT_SENSITIVE), ...(tenant.sensitiveAttributes ?? [])]));
  } finally {
    await app.leases.release(lease).catch(() => undefined);
  }
}

async function explainAndApply(app: OneUserDeps, tenant: Tenant, graph: TenantGraph, key: string, dryRun: boolean, runId: string): Promise<OneUserResult> {
  const fetched = await graph.getUser(key, selectFor(tenant.mapping));
  if (!fetched) throw new EntraSyncError("USER_NOT_FOUND", `Tenant ${tenant.tenantId} has no user ${key} in Entra (or it is deleted): check the object id or userPrincipalName.`, { field: "user", retryable: false });
  const birthday = tenant.mapping.birthDate ? ((await graph.birthdays([fetched.id])).get(fetched.id) ?? null) : undefined;
  const prior = await app.connector.get(tenant.tenantId, fetched.id);
  const row: ConnectorRow = { ...(prior ?? {}), id: fetched.id, user: fetched, removed: undefined, removedAt: undefined, seenAt: app.clock().toISOString() };
  const user = settledUser(row); // a UPN a switchUpn move left on the temporary domain is matched and mapped by its original

  // The match, as update sync makes it, with the keys it tried and what each found.
  const lookup = directLookup(app.directory);
  const verdict = (await matchUsers(lookup, tenant, [user])).get(user.id)!;
  const keysTried: MatchKey[] = [{ key: "externalId = id", value: user.id, candidates: ((await app.directory.findBy(tenant.tenantId, "externalId", [user.id])).get(user.id) ?? []).map((u) => u.id) }];
  const linking = tenant.linking;
  if (linking && keysTried[0]!.candidates.length === 0) {
    const v = (linking.entra === "userPrincipalName" ? user.userPrincipalName : user.mail)?.trim().toLowerCase() || null;
    const found = v ? ((await app.directory.findBy(tenant.tenantId, linking.platform, [v])).get(v) ?? []) : [];
    keysTried.push({ key: `${linking.entra} → ${linking.platform}`, value: v, candidates: found.filter((p) => !p.externalId || p.externalId === user.id).map((p) => p.id) });
  }
  row.match = verdict.kind;
  row.platformUserId = verdict.kind === "matched" ? verdict.user.id : undefined;

  const mapping = explainMapping(user, tenant.mapping, birthday);
  const result: OneUserResult = {
    tenantId: tenant.tenantId,
    runId,
    dryRun,
    outcome: verdict.kind === "matched" ? "unchanged" : verdict.kind,
    entra: { ...fetched, ...(birthday !== undefined ? { birthday } : {}) },
    mapping,
    match: { result: verdict.kind, keysTried },
    diff: [],
    immutableId: { mode: tenant.immutableId.mode, decision: "", reason: "" },
    written: { platform: false, immutableId: false },
    graphRequests: 0,
  };
  let platformAfter: StoredPlatformUser | undefined;
  if (verdict.kind === "matched") {
    result.match.platformUserId = verdict.user.id;
    result.match.linked = verdict.linked;
    const changes: PlatformUpdate["changes"] = diff(verdict.user, mapUser(user, tenant.mapping, birthday));
    if (verdict.user.entraRemovedAt) Object.assign(changes, { entraRemovedAt: null, entraRemovedReason: null });
    result.diff = Object.entries(changes).map(([attribute, to]) => ({ attribute, from: (verdict.user as unknown as Record<string, string | undefined>)[attribute] ?? null, to: to ?? null }));
    platformAfter = { ...verdict.user, ...(Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, v ?? undefined])) as Partial<StoredPlatformUser>) };
    if (result.diff.length) result.outcome = "updated";
    if (!dryRun && result.diff.length) {
      const applied = await app.directory.applyUpdates(tenant.tenantId, [{ user: verdict.user, changes }], { source: "oneUser", runId });
      result.written.platform = applied.updated.includes(verdict.user.id);
      if (!result.written.platform) result.outcome = "failed";
    }
  } else if (verdict.kind === "ambiguous") {
    result.match.why = `${verdict.candidates.length} platform users match (${verdict.candidates.join(", ")}): nothing is guessed. Give the right one the Entra object id ${user.id} as externalId.`;
  } else {
    result.match.why = linking
      ? `No platform user has externalId ${user.id}, and none without an externalId has ${linking.platform} = ${keysTried[1]?.value ?? "(the user has no " + linking.entra + ")"}.`
      : `No platform user has externalId ${user.id}, and the tenant links by no other key (entra-sync tenant update ${tenant.tenantId} --link-by userPrincipalName:userName).`;
  }
  // The connector space learns the user as read (so the next plan looks at it again); the checkpoint stays where it is.
  if (!dryRun) await app.connector.putMany(tenant.tenantId, [row], { dirty: true });

  result.immutableId = await decideImmutableId(app, tenant, graph, row, platformAfter, dryRun, result);
  return result;
}

async function decideImmutableId(app: OneUserDeps, tenant: Tenant, graph: TenantGraph, row: ConnectorRow, platform: StoredPlatformUser | undefined, dryRun: boolean, result: OneUserResult): Promise<OneUserResult["immutableId"]> {
  const cfg = tenant.immutableId;
  const out = (decision: string, reason: string, value?: string) => ({ mode: cfg.mode, decision, reason, ...(value ? { value } : {}) });
  if (cfg.mode === "off") return out("off", "Immutable ID sync is off for this tenant.");
  const domains: TenantDomains | "denied" = await graph.domains();
  if (domains === "denied") return out("missingPermission", "Without Domain.Read.All federated domains cannot be told apart, so nothing is planned: grant it (entra-sync tenant check).");
  const state = evaluateRow(row, platform, cfg, domains);
  if (state.cat !== "planned") {
    const why: Record<string, string> = {
      alreadySet: `The user already has an ImmutableId (${row.user.onPremisesImmutableId ?? ""}); it is never changed.`,
      onPremisesSynced: "The user is synced from on-premises: never written.",
      noPlatformMatch: "No platform user is matched: nothing to take the value from.",
      ambiguousMatch: "More than one platform user matches: nothing is guessed.",
      emptySource: `The platform user has no ${cfg.source}.`,
      valueNotAllowed: `The platform user's ${cfg.source} gives a value Entra refuses (see the README's Immutable ID rules).`,
      federatedDomain: "The user's UPN is in a federated domain (federatedDomains: skip).",
      removed: "The user is removed in Entra.",
    };
    return out(state.cat, why[state.cat] ?? state.cat);
  }
  const value = state.value!;
  const holders = await graph.findUsers([{ key: "v", property: "onPremisesImmutableId", value }]);
  const others = ((holders.get("v")?.body?.value as Array<{ id: string }> | undefined) ?? []).filter((u) => u.id !== row.id);
  if (others.length) return out("duplicateValue", `Another Entra user (${others.map((u) => u.id).join(", ")}) already has ${value}: written to nobody.`, value);
  const planned = `${state.action === "switchUpn" ? "switchUpn (the UPN moves to the initial domain and back)" : "write"} ${value} from the platform user's ${cfg.source}`;
  if (cfg.mode === "preview") return out(state.action ?? "write", `Planned: ${planned}; mode preview writes nothing (entra-sync tenant update ${tenant.tenantId} --immutable-id-mode on).`, value);
  if (dryRun) return out(state.action ?? "write", `Planned: ${planned}; a dry run writes nothing.`, value);
  const roles = await graph.grantedRoles().catch(() => undefined);
  if (roles && !roles.some((r) => WRITE_ROLES.includes(r))) return out("missingPermission", `Planned: ${planned}; but the app lacks User.ReadWrite.All, so nothing is written: grant it (entra-sync tenant check ${tenant.tenantId}).`, value);
  const entry: PlannedUser = { entraId: row.id, userPrincipalName: state.upn ?? "", value, platformUserId: state.platformUserId ?? platform!.id, action: state.action ?? "write", row: { ...row, iid: state } };
  const w = await writeImmutableIds([entry], {
    graph,
    budget: app.writeBudget(tenant),
    domains,
    federatedDomains: cfg.federatedDomains,
    concurrency: 1,
    saveRows: (rows) => app.connector.putMany(tenant.tenantId, rows),
    audit: app.audit ? (writes) => app.audit!.record(tenant.tenantId, entraWriteEntries(tenant.tenantId, result.runId, "oneUser", app.clock().toISOString(), writes)) : undefined,
  });
  if (w.written === 1) {
    result.written.immutableId = true;
    return out("written", `Written: ${planned}.`, value);
  }
  const skipped = Object.keys(w.skipped)[0];
  const failed = Object.entries(w.failed)[0];
  return out(skipped ?? "failed", skipped ? `Not written: the re-read just before the write found ${skipped}.` : `Not written: ${failed?.[0] ?? "refused"}: ${failed?.[1]?.[0]?.message ?? ""}`, value);
}
