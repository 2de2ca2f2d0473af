/**
 * Immutable ID sync for one tenant within a run: plan from the connector space, store the plan, then (mode `on`,
 * not a dry run, within the cap or forced) write. Fills `report.immutableId`.
 */
import type { TableClient } from "@azure/data-tables";
import type { ConnectorRow, ConnectorSpace } from "../connector/space.js";
import type { PlatformDirectory } from "../directory/directory.js";
import { toEntraSyncError } from "../errors.js";
import type { TenantDomains, TenantGraph, UserPatch } from "../graph/tenant-graph.js";
import { GRAPH_WRITE_BUDGET, WriteBudget, type WriteBudgetOptions, type WritePacer } from "../graph/write-budget.js";
import { DOMAIN_PERMISSION, grants, missingPermissionAdvice } from "../graph/permissions.js";
import type { Logger } from "../log.js";
import { addError, type ImmutableIdCounts, type RunReport } from "../runs/report.js";
import type { RunStore } from "../runs/store.js";
import type { Tenant } from "../tenants/model.js";
import { chunk, mapLimit } from "../util/concurrency.js";
import { byPlanOrder, comparePlans, getRunPlan, planHash, PlanStore, type PlanEntry } from "./plan.js";
import { capOf, planImmutableIds, sourceValue, type FullPlan, type PlannedUser, type PlanSummary, type SkipReason } from "./planner.js";
import { fullPlanStore, planIncrementally, settingsHash, whyFullReplan, type IncrementalPlan } from "./incremental.js";
import { encodeImmutableId } from "./encoding.js";
import { classifyWriteFailure, GROUP_SIZE, writeImmutableIds, type EntraWrite, type FailReason, type WriteOutcome, type WriterHooks } from "./writer.js";
import type { AuditLog } from "../audit/store.js";
import { entraWriteEntries } from "../audit/entry.js";

/** The adapters the step uses (the App provides them all). */
export interface ImmutableIdDeps {
  connector: Pick<ConnectorSpace, "list" | "putMany" | "get" | "getMany" | "indexKeys" | "readSummaries" | "writeSummaries" | "saveCandidates">;
  clock: () => Date;
  directory: PlatformDirectory;
  runs: RunStore;
  tables: { runPlans: TableClient };
  log: Logger;
  /** Graph's write budget of the tenant's app, shared by every invocation (without it: one in this process). */
  writeBudget?: ((tenant: Pick<Tenant, "tenantId" | "clientId">) => WritePacer) | undefined;
  /** Where every write into Entra is recorded with its outcome, a group at a time (without it: nowhere). */
  audit?: Pick<AuditLog, "record"> | undefined;
}

/** The audit entries of writes into Entra made by a run. */
function auditEntra(deps: ImmutableIdDeps, tenantId: string, runId: string): ((writes: EntraWrite[]) => Promise<void>) | undefined {
  const log = deps.audit;
  if (!log) return undefined;
  return (writes) => log.record(tenantId, entraWriteEntries(tenantId, runId, "immutableId", deps.clock().toISOString(), writes));
}

export interface ImmutableIdOptions {
  /** The tenant's Graph (its counters get inner-batch 429s and retries). */
  graph: Pick<TenantGraph, "tenant" | "domains" | "readUsers" | "findUsers" | "patchUsers">;
  /** A write budget of this process alone to pace to (default: the app's shared budget, `deps.writeBudget`). */
  budget?: WriteBudgetOptions | undefined;
  /** Groups of 20 writes in flight (default 4). */
  concurrency?: number | undefined;
  shouldStop?: (() => boolean) | undefined;
  hooks?: WriterHooks | undefined;
  onProgress?: ((report: RunReport) => void) | undefined;
  /** The application permissions of the tenant's token (undefined: unknown). Writes need User.ReadWrite.All. */
  grantedRoles?: (() => Promise<string[] | undefined>) | undefined;
}

const FAIL_ADVICE: Record<FailReason, string> = {
  duplicateValue: "Entra says another object already has this ImmutableId (the connector space did not know it): check the platform attribute for duplicates.",
  onPremisesSynced: "These users are synced from on-premises now: their ImmutableId is managed there.",
  federatedDomain: "Entra refused: the UPN is in a federated domain. Set federatedDomains to switchUpn, or move the UPNs to a managed domain.",
  valueNotAllowed: "Entra refused the value as invalid for onPremisesImmutableId: choose another source attribute or encoding (base64).",
  notFound: "These users were deleted in Entra between the re-read and the write.",
  upnSwitchFailed: "Moving the UPN to the initial domain failed (often another user already has that UPN); nothing was changed.",
  throttled: "Graph kept throttling these writes; the next run retries them.",
  transient: "Graph failed with server or network errors on every attempt; the next run retries them.",
  refused: "Graph refused these writes for another reason; see the message.",
};

/** The run's error when Graph refuses `GET /domains`: the permission, what it is for, and how to grant it. */
function missingDomainPermission(tenant: Tenant): string {
  return `Immutable ID sync wrote nothing: Graph refused to list the tenant's domains (403 Authorization_RequestDenied), so users in federated domains cannot be told apart. ${missingPermissionAdvice(tenant, DOMAIN_PERMISSION)}`;
}

/** The write budget to pace to: the process's own when the caller gave one, else the app's shared one. */
const budgetFor = (deps: ImmutableIdDeps, tenant: Tenant, o: ImmutableIdOptions): WritePacer =>
  o.budget ? new WriteBudget(o.budget) : (deps.writeBudget?.(tenant) ?? new WriteBudget(GRAPH_WRITE_BUDGET));

const add = (into: Record<string, number>, key: string, n: number) => {
  if (n > 0) into[key] = (into[key] ?? 0) + n;
};

/**
 * Runs Immutable ID sync for one tenant into `report.immutableId`. Mode `off` only adds a notice. Mode `preview`
 * or a dry run stores the plan and writes nothing. Over the cap nothing is written (`capExceeded`) unless the run
 * has `force`. Returns `completed: false` when `shouldStop` ended the writes early (a continuation finishes them).
 */
export async function runImmutableIdSync(deps: ImmutableIdDeps, tenant: Tenant, report: RunReport, o: ImmutableIdOptions): Promise<{ completed: boolean }> {
  // A full re-plan's spill file lives until the step ends (its entries are streamed from it more than once).
  const opened: Array<{ close(): void }> = [];
  try {
    return await immutableIdStep(deps, tenant, report, o, opened);
  } finally {
    for (const f of opened) f.close();
  }
}

async function immutableIdStep(deps: ImmutableIdDeps, tenant: Tenant, report: RunReport, o: ImmutableIdOptions, opened: Array<{ close(): void }>): Promise<{ completed: boolean }> {
  const cfg = tenant.immutableId;
  if (cfg.mode === "off") {
    report.notices.push("Immutable ID sync is off for this tenant: nothing planned or written (entra-sync tenant update … --immutable-id-mode preview).");
    return { completed: true };
  }
  // Fail closed: without the domains, users in federated domains cannot be told apart, so nothing is planned or
  // written (a write to such a user is refused by Entra, and switchUpn would move the wrong UPNs). Other failures
  // than a refusal are thrown, classified.
  const domains: TenantDomains | "denied" = await o.graph.domains();
  if (domains === "denied") {
    addError(report, "MISSING_PERMISSION", missingDomainPermission(tenant));
    return { completed: true };
  }

  // The plan: incremental (only users that changed since the last plan) when the stored candidate state is there and
  // was computed with the tenant's current settings and domains; in full otherwise, and on demand.
  const sHash = settingsHash(tenant, domains);
  // A continuation of this run (it planned already) finds the state its first invocation stored.
  const resumed = report.immutableId?.plan !== undefined;
  const wantFull: string | undefined = report.dryRun ? "dryRun" : report.forcePlan ? "forcePlan" : !resumed && (report.mode === "full" || report.progress.round === "initial") ? "fullRun" : undefined;
  const summaries = wantFull ? undefined : await deps.connector.readSummaries(tenant.tenantId);
  const fullReason = wantFull ?? whyFullReplan(summaries!, sHash);
  let entries: PlannedUser[] | undefined;
  let inc: IncrementalPlan | undefined;
  let full: FullPlan | undefined;
  let summary: PlanSummary;
  let examples: Partial<Record<SkipReason, string[]>>;
  let pending: ConnectorRow[];
  if (fullReason) {
    // The states are stored a page at a time as they are concluded; a dry run writes nothing, the state included.
    const store = report.dryRun ? undefined : await fullPlanStore(deps, tenant.tenantId, sHash);
    full = await planImmutableIds(deps, tenant, domains, { store: store?.store });
    opened.push(full);
    await store?.finish();
    summary = { tenantUsers: full.tenantUsers, candidates: full.candidates, planned: full.planned, skipped: full.skipped, hash: full.hash };
    examples = full.examples;
    pending = full.pendingUpnRestores;
  } else {
    inc = await planIncrementally(deps, tenant, domains, summaries!);
    summary = inc;
    examples = inc.examples;
    pending = inc.pendingUpnRestores;
  }
  // The planned users all at once, in plan order (to write them, or to compare them with a reviewed plan): O(planned).
  const loadEntries = async (): Promise<PlannedUser[]> => {
    if (entries) return entries;
    if (!full) return (entries = await inc!.loadEntries());
    const all: PlannedUser[] = [];
    for await (const e of full.entries()) all.push(e);
    return (entries = all.sort(byPlanOrder));
  };
  // The planned users one by one (to store them), as loaded, or straight from a full re-plan's spill file.
  async function* entryStream(): AsyncIterable<PlannedUser> {
    if (entries) yield* entries;
    else if (full) yield* full.entries();
    else yield* await loadEntries();
  }
  // One pacer for the whole step: the restores and the writes draw on the same budget.
  const budget = budgetFor(deps, tenant, o);
  // Before anything else, in every mode but off (a dry run only says what it would do): a user left on the
  // temporary UPN by an unfinished switchUpn cannot sign in through the federated domain until it is put back.
  const plannedValues = full ? full.pendingValues : new Map(pending.filter((r) => r.iid?.cat === "planned").map((r) => [r.id, r.iid!.value!]));
  const restored = await restoreUnfinishedUpnSwitches(deps, tenant, report, pending, plannedValues, budget, o);
  if (restored.failed.size || restored.cleared.size) {
    // Users whose restore failed are not written; users it gave an ImmutableId are done.
    entries = (await loadEntries()).filter((e) => !restored.failed.has(e.entraId) && !restored.cleared.get(e.entraId)?.user.onPremisesImmutableId);
    for (const e of entries) e.row = restored.cleared.get(e.entraId) ?? e.row;
  }
  const planned = entries ? entries.length : summary.planned;
  const hash = entries ? planHash(entries) : summary.hash;

  const counts: ImmutableIdCounts = resumed
    ? { ...report.immutableId!, skipped: { ...report.immutableId!.skipped }, failed: { ...report.immutableId!.failed } }
    : { candidates: summary.candidates, planned, written: 0, skipped: { ...summary.skipped } as Record<string, number>, failed: {} };
  report.immutableId = counts;
  counts.planning = fullReason ? { kind: "full", reason: fullReason } : { kind: "incremental", evaluated: inc!.evaluated, since: inc!.builtAt };

  let unchangedSince: string | undefined;
  if (!resumed) {
    // An unchanged plan (scheduled previews every few minutes) points at the run that stored it first.
    const earlier = planned === 0 ? undefined : (await deps.runs.list(tenant.tenantId, 10)).find((r) => r.runId !== report.runId && r.immutableId?.plan?.hash === hash);
    const planRunId = earlier?.immutableId?.plan?.runId ?? report.runId;
    if (earlier) unchangedSince = planRunId;
    const plans = new PlanStore(deps.tables.runPlans);
    // A dry run, and a plan that restores just changed, keep their own copy; every other run brings the tenant's live
    // plan up to date, writing only what changed since the last plan.
    const ownCopy = report.dryRun || hash !== summary.hash;
    if (ownCopy && !earlier && planned > 0) await plans.save(tenant.tenantId, report.runId, entryStream());
    if (!report.dryRun) {
      const c = inc?.changes ?? { set: [], removed: [], hashBefore: "" };
      await plans.applyLive(tenant.tenantId, report.runId, { ...c, hashAfter: summary.hash, all: entryStream });
    }
    const live = earlier ? earlier.immutableId?.plan?.live === true : !ownCopy;
    counts.plan = { runId: planRunId, entries: planned, hash, ...(live ? { live: true } : {}) };
    const limit = capOf(cfg, summary.tenantUsers);
    if (planned > limit) counts.capExceeded = { planned, maxWrites: cfg.maxWritesPerRun, maxPercent: cfg.maxPercentPerRun, tenantUsers: summary.tenantUsers, cap: limit, mode: cfg.mode };
    for (const reason of ["ambiguousMatch", "valueNotAllowed", "duplicateValue"] as SkipReason[]) {
      const ids = examples[reason];
      const n = summary.skipped[reason];
      // A notice, not an error: these are data to fix on the platform, and would otherwise mark every run partial.
      // An incremental plan names only users it looked at this run (the count is the tenant's).
      if (n && (ids?.length || fullReason)) report.notices.push(`${skipMessage(reason, cfg.source)} ${n} user(s)${ids?.length ? `, e.g. ${ids.slice(0, 5).join(", ")}` : ""}.`);
    }
  }

  const planOnly = cfg.mode === "preview" || report.dryRun;
  if (planOnly) {
    report.notices.push(
      `Immutable ID sync ${report.dryRun ? "dry run" : "preview"}: ${planned} ImmutableId(s) planned, nothing written; ${planningNote(counts, unchangedSince)}. See the plan: entra-sync plan --tenant ${tenant.tenantId} --run ${report.runId}` +
        (counts.capExceeded
          ? ` (over the cap of ${counts.capExceeded.cap} writes per run: after reviewing it, ${cfg.mode === "on" ? "" : `switch the mode on (entra-sync tenant update ${tenant.tenantId} --immutable-id-mode on), then `}a run with --force-plan ${report.runId} writes it).`
          : "."),
    );
    return { completed: true };
  }

  let toWrite = await loadEntries();
  if (report.forcePlan) {
    const forced = await holdingEntries(deps, tenant, report, toWrite, report.forcePlan, resumed);
    if (!forced) return { completed: true };
    toWrite = forced;
    if (counts.capExceeded && !resumed) {
      const c = counts.capExceeded;
      report.notices.push(`Immutable ID sync: ${c.planned} planned, over the cap of ${c.cap} per run (${c.maxWrites} writes or ${c.maxPercent}% of ${c.tenantUsers} users); written because the run was forced with the reviewed plan of run ${report.forcePlan}.`);
      counts.capExceeded = undefined; // the cap did not stop this run
    }
  } else if (counts.capExceeded && !resumed) {
    addError(report, "IMMUTABLE_ID_CAP_EXCEEDED", `Immutable ID sync planned ${planned} writes, over the cap of ${counts.capExceeded.cap} per run (${cfg.maxWritesPerRun} writes or ${cfg.maxPercentPerRun}% of ${summary.tenantUsers} users): nothing was written. Review the plan (entra-sync plan --tenant ${tenant.tenantId} --run ${report.runId}) and run with --force-plan ${report.runId}, or raise the cap.`);
    return { completed: true };
  }

  // A PATCH refused for want of User.ReadWrite.All looks exactly like one refused for a privileged user (403
  // Authorization_RequestDenied): ask the token first, and write nothing without the permission.
  const roles = await o.grantedRoles?.();
  if (roles && !grants(roles, "User.ReadWrite.All")) {
    addError(report, "MISSING_PERMISSION", `Immutable ID sync wrote nothing: writing onPremisesImmutableId needs the application permission User.ReadWrite.All, which the app's token lacks (the plan is stored: entra-sync plan --tenant ${tenant.tenantId} --run ${counts.plan?.runId ?? report.runId}). ${missingPermissionAdvice(tenant, "User.ReadWrite.All")}`);
    return { completed: true };
  }

  // An incremental plan read each platform user when its Entra user last changed: check that the platform still
  // gives the same value to the same user before writing it (a point read per write).
  if (inc) toWrite = await stillHolding(deps, tenant, report, toWrite);
  // A full re-plan keeps slim rows (no whole Entra user): the writer stores the rows back, so it gets them whole.
  else toWrite = await withWholeRows(deps, tenant.tenantId, toWrite);

  const outcome = await writeImmutableIds(toWrite, {
    graph: o.graph,
    budget,
    domains,
    federatedDomains: cfg.federatedDomains,
    concurrency: o.concurrency,
    saveRows: (rows: ConnectorRow[]) => deps.connector.putMany(tenant.tenantId, rows),
    audit: auditEntra(deps, tenant.tenantId, report.runId),
    shouldStop: o.shouldStop,
    hooks: o.hooks,
    onGroup: (w) => {
      report.immutableId = { ...counts, written: counts.written + w.written };
      o.onProgress?.(report);
    },
  });
  applyOutcome(report, tenant, counts, outcome, cfg.source);
  report.immutableId = counts;
  return { completed: outcome.completed };
}

/** "re-planned in full (why)" or "incremental: N users looked at again …", for the preview notice. */
function planningNote(counts: ImmutableIdCounts, unchangedSince: string | undefined): string {
  const p = counts.planning;
  const why: Record<string, string> = { dryRun: "a dry run", forcePlan: "a forced run", fullRun: "a full run", noState: "no candidate state stored yet", settingsChanged: "the tenant's Immutable ID settings or domains changed" };
  const how = !p ? "" : p.kind === "full" ? `re-planned in full (${why[p.reason ?? ""] ?? p.reason})` : `planned incrementally: ${p.evaluated ?? 0} user(s) looked at again since the last plan (state rebuilt in full ${p.since})`;
  return unchangedSince ? `${how}; the plan is unchanged since run ${unchangedSince}` : how;
}

/** The entries with their connector rows read whole (an entry whose row is gone is dropped: its user left). */
async function withWholeRows(deps: ImmutableIdDeps, tenantId: string, entries: PlannedUser[]): Promise<PlannedUser[]> {
  const rows = await deps.connector.getMany(tenantId, entries.map((e) => e.entraId));
  return entries.flatMap((e) => {
    const row = rows.get(e.entraId);
    return row ? [{ ...e, row }] : [];
  });
}

/**
 * Entries of an incremental plan whose platform user still gives the planned value to the same Entra user. Others
 * are not written; their rows are marked for the next plan to look at again.
 */
async function stillHolding(deps: ImmutableIdDeps, tenant: Tenant, report: RunReport, entries: PlannedUser[]): Promise<PlannedUser[]> {
  const cfg = tenant.immutableId;
  const current = await mapLimit(entries, 32, (e) => deps.directory.get(tenant.tenantId, e.platformUserId));
  const keep: PlannedUser[] = [];
  const drift: PlannedUser[] = [];
  entries.forEach((e, i) => {
    const p = current[i];
    const enc = p && (p.externalId === undefined || p.externalId === e.entraId) ? encodeImmutableId(sourceValue(p, cfg.source), cfg.encoding) : undefined;
    (enc?.ok && enc.value === e.value ? keep : drift).push(e);
  });
  if (drift.length) {
    await deps.connector.putMany(tenant.tenantId, drift.map((e) => e.row));
    report.notices.push(`Immutable ID sync did not write ${drift.length} planned user(s) whose platform user changed since they were planned (another value, or relinked); the next run plans them again, e.g. ${drift.slice(0, 5).map((e) => e.entraId).join(", ")}.`);
  }
  return keep;
}

/**
 * Users whose switchUpn did not finish (a crash between its steps, or a second step Entra refused): where the UPN is
 * still the temporary one, the move is finished — the UPN put back together with the ImmutableId the move was for (or,
 * for a move recorded without one, the value this run plans for the user). Entra moves a user into a federated domain
 * only with an ImmutableId, so the UPN goes back alone only for a user that has one meanwhile. The marker is cleared
 * once the UPN is no longer the temporary one, and kept otherwise, so that every run tries again. Runs before any
 * other work of the step; a dry run reads and reports only. Returns the rows it cleared and the users still stuck.
 */
async function restoreUnfinishedUpnSwitches(deps: ImmutableIdDeps, tenant: Tenant, report: RunReport, rows: ConnectorRow[], planned: Map<string, string>, budget: WritePacer, o: ImmutableIdOptions): Promise<{ cleared: Map<string, ConnectorRow>; failed: Set<string> }> {
  const cleared = new Map<string, ConnectorRow>();
  const failed = new Set<string>();
  if (rows.length === 0) return { cleared, failed };
  const wouldRestore: string[] = [];
  let withValue = 0;
  type Current = { userPrincipalName?: string; onPremisesImmutableId?: string | null };
  // No lost-write check here: a restore whose answer was lost keeps its marker, and the next run re-reads the UPN.
  const put = (list: Array<{ r: ConnectorRow; changes: UserPatch["changes"] }>) => o.graph.patchUsers(list.map(({ r, changes }) => ({ key: r.id, userId: r.id, changes })), { pacer: budget, verifyLost: false });
  for (const group of chunk(rows, GROUP_SIZE)) {
    const current = await o.graph.readUsers(group.map((r) => r.id));
    const toRestore: Array<{ r: ConnectorRow; now: Current }> = [];
    for (const r of group) {
      const a = current.get(r.id);
      const now = a && a.status === 200 ? (a.body as Current | undefined) : undefined;
      const upn = now?.userPrincipalName;
      if (a?.status === 404 || (upn !== undefined && upn.toLowerCase() !== r.upnSwitch!.temporary.toLowerCase())) {
        cleared.set(r.id, { ...r, upnSwitch: undefined, user: { ...r.user, ...(upn ? { userPrincipalName: upn, onPremisesImmutableId: now?.onPremisesImmutableId ?? null } : {}) } });
      } else if (upn === undefined) failed.add(r.id); // not readable now: left for the next run, and not written meanwhile
      else toRestore.push({ r, now: now! });
    }
    if (report.dryRun) {
      wouldRestore.push(...toRestore.map((x) => x.r.id));
      continue;
    }
    const valueOf = (r: ConnectorRow) => r.upnSwitch!.value ?? planned.get(r.id);
    const finish = (x: { r: ConnectorRow; now: Current }) => !x.now.onPremisesImmutableId && !!valueOf(x.r);
    // Without an ImmutableId, held or to set, Entra refuses the UPN back: nothing is sent.
    const sendable = toRestore.filter((x) => finish(x) || !!x.now.onPremisesImmutableId);
    const first = await put(sendable.map((x) => ({ r: x.r, changes: finish(x) ? { onPremisesImmutableId: valueOf(x.r), userPrincipalName: x.r.upnSwitch!.original } : { userPrincipalName: x.r.upnSwitch!.original } })));
    const ok = (a: { status: number } | undefined) => !!a && a.status >= 200 && a.status < 300;
    await auditEntra(deps, tenant.tenantId, report.runId)?.(
      sendable.map((x) => {
        const a = first.get(x.r.id);
        const back = { attribute: "userPrincipalName" as const, old: x.r.upnSwitch!.temporary, new: x.r.upnSwitch!.original };
        const changes = finish(x) ? [{ attribute: "onPremisesImmutableId" as const, old: null, new: valueOf(x.r) ?? null }, back] : [back];
        return { entraId: x.r.id, platformUserId: x.r.platformUserId ?? "", changes, outcome: ok(a) ? "applied" : "failed", ...(ok(a) || !a ? {} : { reason: `${classifyWriteFailure(a).reason}: ${classifyWriteFailure(a).message}` }) };
      }),
    );
    for (const x of toRestore) {
      const r = x.r;
      const a = first.get(r.id);
      if (ok(a)) {
        const withId = finish(x);
        if (withId) withValue++;
        cleared.set(r.id, { ...r, upnSwitch: undefined, user: { ...r.user, userPrincipalName: r.upnSwitch!.original, onPremisesImmutableId: withId ? valueOf(r)! : (x.now.onPremisesImmutableId ?? null) } });
      } else {
        failed.add(r.id);
        const c = a ? classifyWriteFailure(a) : { reason: "refused" as const, message: "no ImmutableId is recorded or planned for the user, and Entra puts the UPN back only with one" };
        addError(report, "IMMUTABLE_ID_UPN_RESTORE_FAILED", upnStuckMessage(tenant, { id: r.id, upn: r.upnSwitch!.original, temporaryUpn: r.upnSwitch!.temporary, reason: c.reason, answer: c.message }), [r.id]);
      }
    }
  }
  if (report.dryRun) {
    if (wouldRestore.length) report.notices.push(`Immutable ID sync dry run: ${wouldRestore.length} user(s) are still on the temporary UPN of a switchUpn move an earlier run left unfinished; a run that is not a dry run puts them back first, e.g. ${wouldRestore.slice(0, 5).join(", ")}.`);
    cleared.clear();
    return { cleared, failed };
  }
  if (cleared.size) {
    await deps.connector.putMany(tenant.tenantId, [...cleared.values()]);
    report.notices.push(`Immutable ID sync finished ${cleared.size} switchUpn move(s) an earlier run left unfinished (UPNs put back where still temporary${withValue ? `, ${withValue} with the ImmutableId the move was for` : ""}).`);
  }
  return { cleared, failed };
}

/**
 * A forced run writes the plan an operator reviewed (the plan of run `planRunId`), not whatever the fresh plan holds:
 * only entries that still hold (same user, value, platform user and action: still without an ImmutableId, still
 * unique, still matched). When the fresh plan holds users the reviewed one did not, nothing is written and the
 * difference is reported (on a continuation, the added users are left for a later run). Undefined: write nothing.
 */
async function holdingEntries(deps: ImmutableIdDeps, tenant: Tenant, report: RunReport, fresh: PlannedUser[], planRunId: string, resumed: boolean): Promise<PlannedUser[] | undefined> {
  let reviewed: PlanEntry[];
  try {
    reviewed = await getRunPlan(deps, tenant.tenantId, planRunId);
  } catch (e) {
    const err = toEntraSyncError(e);
    if (err.code !== "RUN_NOT_FOUND" && err.code !== "PLAN_NOT_FOUND") throw err;
    addError(report, "PLAN_NOT_FOUND", `The reviewed plan of run ${planRunId} is gone (${err.message}): nothing was written. Review a new plan (entra-sync run --tenant ${tenant.tenantId} --only immutable-id --dry-run) and force that one.`);
    return undefined;
  }
  const diff = comparePlans(reviewed, fresh);
  if (diff.added.length > 0 && !resumed) {
    addError(
      report,
      "IMMUTABLE_ID_PLAN_CHANGED",
      `The plan grew since run ${planRunId} was reviewed: ${diff.added.length} user(s) added (${fresh.length} entries now, ${reviewed.length} reviewed, ${diff.dropped} of those no longer hold): nothing was written. Review this run's plan (entra-sync plan --tenant ${tenant.tenantId} --run ${report.runId}) and force it with --force-plan ${report.runId}.`,
      diff.added.map((e) => e.entraId),
    );
    return undefined;
  }
  if (!resumed && diff.dropped > 0)
    report.notices.push(
      `Immutable ID sync forced with the plan of run ${planRunId}: ${diff.dropped} of its ${reviewed.length} entries no longer hold (the user gained an ImmutableId, left, or its value, match or action changed) and are not written` +
        (diff.changed.length ? `; ${diff.changed.length} of them are planned with a new value or action (review them in this run's plan), e.g. ${diff.changed.slice(0, 5).map((e) => e.entraId).join(", ")}.` : "."),
    );
  return diff.holding;
}

function skipMessage(reason: SkipReason, source: string): string {
  switch (reason) {
    case "ambiguousMatch":
      return "Immutable ID sync skipped users matched to more than one platform user.";
    case "valueNotAllowed":
      return `Immutable ID sync skipped users whose ${source} gives a value Entra refuses ($, _, 60 characters or more, spaces or non-ASCII, or not a GUID for encoding guid).`;
    default:
      return `Immutable ID sync skipped users whose value another user already has, or that two users would get: fix the platform's ${source} values.`;
  }
}

/**
 * The error for a user switchUpn left on the temporary UPN: who, both UPNs, why, and what the customer's admin must
 * do. Entra moves a user into a federated domain only with an ImmutableId, so nobody can put the UPN back alone.
 */
export function upnStuckMessage(tenant: Pick<Tenant, "tenantId">, u: WriteOutcome["upnNotRestored"][number]): string {
  const cause =
    u.reason === "duplicateValue"
      ? "another object in Entra holds the ImmutableId planned for the user: find it (Entra admin center, or Graph `GET /users?$filter=onPremisesImmutableId eq '<value>'`) and clear or change its value"
      : u.reason === "privilegedUser"
        ? "the user has a privileged admin role, and changing its ImmutableId needs an admin with a privileged role (Privileged Authentication Administrator or Global Administrator): that admin must put the UPN back with an ImmutableId by hand"
        : "resolve what Entra refused (its answer above)";
  return (
    `switchUpn left user ${u.id} on the temporary UPN ${u.temporaryUpn} (it must be ${u.upn}); the user cannot sign in through the federated domain until it is back. ` +
    `Entra refused to set the ImmutableId and put the UPN back (${u.answer}), and it moves a user into a federated domain only with an ImmutableId, so the UPN cannot go back alone. ` +
    `The customer's admin must either put the UPN back to ${u.upn} together with an ImmutableId in the same change (Graph PATCH /users/${u.id} with userPrincipalName and onPremisesImmutableId; PowerShell Update-MgUser -UserId ${u.id} -UserPrincipalName ${u.upn} -OnPremisesImmutableId <value>), ` +
    `or ${cause}, and let the next run finish the move: every run of tenant ${tenant.tenantId} retries it with the ImmutableId planned for the user (entra-sync plan --tenant ${tenant.tenantId} --run <runId> shows it).`
  );
}

function applyOutcome(report: RunReport, tenant: Tenant, counts: ImmutableIdCounts, w: WriteOutcome, _source: string): void {
  counts.written += w.written;
  for (const [reason, ids] of Object.entries(w.skipped)) add(counts.skipped, reason, ids.length);
  for (const [reason, list] of Object.entries(w.failed) as Array<[FailReason, Array<{ id: string; message: string }>]>) {
    add(counts.failed, reason, list.length);
    addError(report, "IMMUTABLE_ID_REFUSED", `ImmutableId not written (${reason}): ${FAIL_ADVICE[reason]} First answer: ${list[0]?.message ?? ""}`, list.map((f) => f.id));
  }
  if (w.skipped.privilegedUser?.length)
    report.notices.push(`Entra refused to change the ImmutableId of ${w.skipped.privilegedUser.length} user(s) with privileged admin roles (a privileged role is needed): set it for them by hand, e.g. ${w.skipped.privilegedUser.slice(0, 5).join(", ")}.`);
  for (const u of w.upnNotRestored) addError(report, "IMMUTABLE_ID_UPN_RESTORE_FAILED", upnStuckMessage(tenant, u), [u.id]);
  const secs = w.elapsedMs / 1000;
  if (w.written > 0 && secs > 0) counts.writesPerSecond = Math.round((w.written / secs) * 10) / 10;
}
