/**
 * Immutable ID sync for one tenant within a run: plan from the connector space, store the plan, then (mode `on`,
 * not a dry run, within the cap or forced) write. Fills `report.immutableId`.
 */
import type { TableClient } from "@azure/data-tables";
import type { Client } from "@microsoft/microsoft-graph-client";
import type { ConnectorRow, ConnectorSpace } from "../connector/space.js";
import type { PlatformDirectory } from "../directory/directory.js";
import type { GraphCounters } from "../graph/client.js";
import { classifyGraphError, graphErrorInfo } from "../graph/errors.js";
import type { Logger } from "../log.js";
import { addError, type ImmutableIdCounts, type RunReport } from "../runs/report.js";
import type { RunStore } from "../runs/store.js";
import type { Tenant } from "../tenants/model.js";
import { chunk } from "../util/concurrency.js";
import { BATCH_SIZE, executeBatch } from "./batch.js";
import { planHash, PlanStore } from "./plan.js";
import { capOf, planImmutableIds, type SkipReason, type TenantDomains } from "./planner.js";
import { GRAPH_WRITE_BUDGET, WriteBudget, type WriteBudgetOptions, type WritePacer } from "./write-budget.js";
import { writeImmutableIds, type FailReason, type WriteOutcome, type WriterHooks } from "./writer.js";

/** The adapters the step uses (the App provides them all). */
export interface ImmutableIdDeps {
  connector: ConnectorSpace;
  directory: PlatformDirectory;
  runs: RunStore;
  tables: { runPlans: TableClient };
  log: Logger;
  /** Graph's write budget of the tenant's app, shared by every invocation (without it: one in this process). */
  writeBudget?: ((tenant: Pick<Tenant, "tenantId" | "clientId">) => WritePacer) | undefined;
}

export interface ImmutableIdOptions {
  graph: Client;
  /** The run's Graph counters: inner-batch 429s and retries are added here. */
  counters: GraphCounters;
  /** A write budget of this process alone to pace to (default: the app's shared budget, `deps.writeBudget`). */
  budget?: WriteBudgetOptions | undefined;
  /** Groups of 20 writes in flight (default 4). */
  concurrency?: number | undefined;
  shouldStop?: (() => boolean) | undefined;
  hooks?: WriterHooks | undefined;
  onProgress?: ((report: RunReport) => void) | undefined;
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

/** Reads the tenant's domains: which are federated, and the initial `*.onmicrosoft.com` one. */
export async function readDomains(graph: Client): Promise<TenantDomains> {
  const body = (await graph.api("/domains").get()) as { value?: Array<{ id: string; authenticationType?: string; isInitial?: boolean }> };
  const list = body.value ?? [];
  return {
    federated: new Set(list.filter((d) => /^federated$/i.test(d.authenticationType ?? "")).map((d) => d.id.toLowerCase())),
    initial: list.find((d) => d.isInitial)?.id.toLowerCase(),
  };
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
  const cfg = tenant.immutableId;
  if (cfg.mode === "off") {
    report.notices.push("Immutable ID sync is off for this tenant: nothing planned or written (entra-sync tenant update … --immutable-id-mode preview).");
    return { completed: true };
  }
  const ref = { tenantId: tenant.tenantId, clientId: tenant.clientId };
  let domains: TenantDomains;
  try {
    domains = await readDomains(o.graph);
  } catch (e) {
    const info = graphErrorInfo(e);
    if (info.status !== 403) throw classifyGraphError(e, ref, "read the tenant's domains");
    domains = { federated: new Set(), initial: undefined };
    report.notices.push("The tenant's domains could not be read (403): users in federated domains cannot be told apart, and Entra will refuse their writes.");
  }

  const plan = await planImmutableIds(deps, tenant, domains);
  const resumed = report.immutableId?.plan !== undefined;
  const counts: ImmutableIdCounts = resumed
    ? { ...report.immutableId!, skipped: { ...report.immutableId!.skipped }, failed: { ...report.immutableId!.failed } }
    : { candidates: plan.candidates, planned: plan.entries.length, written: 0, skipped: { ...plan.skipped } as Record<string, number>, failed: {} };
  report.immutableId = counts;

  if (!resumed) {
    const hash = planHash(plan.entries);
    // An unchanged plan (scheduled previews every few minutes) points at the run that stored it first.
    const earlier = plan.entries.length === 0 ? undefined : (await deps.runs.list(tenant.tenantId, 10)).find((r) => r.runId !== report.runId && r.immutableId?.plan?.hash === hash);
    const planRunId = earlier?.immutableId?.plan?.runId ?? report.runId;
    if (!earlier && plan.entries.length > 0) await new PlanStore(deps.tables.runPlans).save(tenant.tenantId, report.runId, plan.entries);
    counts.plan = { runId: planRunId, entries: plan.entries.length, hash };
    const limit = capOf(cfg, plan.tenantUsers);
    if (plan.entries.length > limit) counts.capExceeded = { planned: plan.entries.length, maxWrites: cfg.maxWritesPerRun, maxPercent: cfg.maxPercentPerRun, tenantUsers: plan.tenantUsers };
    for (const reason of ["ambiguousMatch", "valueNotAllowed", "duplicateValue"] as SkipReason[]) {
      const ids = plan.examples[reason];
      // A notice, not an error: these are data to fix on the platform, and would otherwise mark every run partial.
      if (ids?.length) report.notices.push(`${skipMessage(reason, cfg.source)} ${plan.skipped[reason]} user(s), e.g. ${ids.slice(0, 5).join(", ")}.`);
    }
  }

  const planOnly = cfg.mode === "preview" || report.dryRun;
  if (planOnly) {
    report.notices.push(
      `Immutable ID sync ${report.dryRun ? "dry run" : "preview"}: ${plan.entries.length} ImmutableId(s) planned, nothing written. See the plan: entra-sync plan --tenant ${tenant.tenantId} --run ${report.runId}` +
        (counts.capExceeded ? ` (over the cap of ${capOf(cfg, plan.tenantUsers)} writes per run: a run in mode on would need --force).` : "."),
    );
    return { completed: true };
  }
  if (counts.capExceeded && !report.force && !resumed) {
    addError(report, "IMMUTABLE_ID_CAP_EXCEEDED", `Immutable ID sync planned ${plan.entries.length} writes, over the cap of ${capOf(cfg, plan.tenantUsers)} per run (${cfg.maxWritesPerRun} writes or ${cfg.maxPercentPerRun}% of ${plan.tenantUsers} users): nothing was written. Review the plan (entra-sync plan --tenant ${tenant.tenantId} --run ${report.runId}) and run with --force, or raise the cap.`);
    return { completed: true };
  }
  if (counts.capExceeded && report.force && !resumed) {
    const c = counts.capExceeded;
    report.notices.push(`Immutable ID sync: ${c.planned} planned, over the cap of ${capOf(cfg, c.tenantUsers)} per run (${c.maxWrites} writes or ${c.maxPercent}% of ${c.tenantUsers} users); written because the run was forced.`);
    counts.capExceeded = undefined; // the cap did not stop this run
  }

  await restoreUnfinishedUpnSwitches(deps, tenant, report, plan.pendingUpnRestores, o);

  const outcome = await writeImmutableIds(plan.entries, {
    client: o.graph,
    tenant: ref,
    counters: o.counters,
    budget: budgetFor(deps, tenant, o),
    domains,
    federatedDomains: cfg.federatedDomains,
    concurrency: o.concurrency,
    saveRows: (rows: ConnectorRow[]) => deps.connector.putMany(tenant.tenantId, rows),
    shouldStop: o.shouldStop,
    hooks: o.hooks,
    onGroup: (w) => {
      report.immutableId = { ...counts, written: counts.written + w.written };
      o.onProgress?.(report);
    },
  });
  applyOutcome(report, counts, outcome, cfg.source);
  report.immutableId = counts;
  return { completed: outcome.completed };
}

/**
 * Users whose switchUpn stopped between its steps (a crash): where the UPN is still the temporary one, it is put
 * back; the marker is cleared once the UPN is no longer the temporary one. Runs before any new write.
 */
async function restoreUnfinishedUpnSwitches(deps: ImmutableIdDeps, tenant: Tenant, report: RunReport, rows: ConnectorRow[], o: ImmutableIdOptions): Promise<void> {
  if (rows.length === 0) return;
  const ref = { tenantId: tenant.tenantId, clientId: tenant.clientId };
  const batchOptions = { client: o.graph, tenant: ref, counters: o.counters };
  const cleared: ConnectorRow[] = [];
  for (const group of chunk(rows, BATCH_SIZE)) {
    const current = await executeBatch(group.map((r) => ({ id: r.id, method: "GET" as const, url: `/users/${r.id}?$select=id,userPrincipalName` })), batchOptions);
    const toRestore = group.filter((r) => {
      const a = current.get(r.id);
      const upn = a && a.status === 200 ? (a.body as { userPrincipalName?: string } | undefined)?.userPrincipalName : undefined;
      if (a?.status === 404 || (upn !== undefined && upn.toLowerCase() !== r.upnSwitch!.temporary.toLowerCase())) {
        cleared.push({ ...r, upnSwitch: undefined, user: { ...r.user, ...(upn ? { userPrincipalName: upn } : {}) } });
        return false;
      }
      return upn !== undefined;
    });
    const put = await executeBatch(toRestore.map((r) => ({ id: r.id, method: "PATCH" as const, url: `/users/${r.id}`, body: { userPrincipalName: r.upnSwitch!.original } })), { ...batchOptions, budget: budgetFor(deps, tenant, o) });
    for (const r of toRestore) {
      const a = put.get(r.id);
      if (a && a.status >= 200 && a.status < 300) cleared.push({ ...r, upnSwitch: undefined, user: { ...r.user, userPrincipalName: r.upnSwitch!.original } });
      else addError(report, "IMMUTABLE_ID_UPN_RESTORE_FAILED", `A UPN moved by switchUpn could not be put back (${r.upnSwitch!.temporary} → ${r.upnSwitch!.original}): fix it by hand in the Entra admin center now.`, [r.id]);
    }
  }
  if (cleared.length) {
    await deps.connector.putMany(tenant.tenantId, cleared);
    report.notices.push(`Immutable ID sync finished ${cleared.length} switchUpn move(s) an earlier run left unfinished (UPNs put back where still temporary).`);
  }
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

function applyOutcome(report: RunReport, counts: ImmutableIdCounts, w: WriteOutcome, _source: string): void {
  counts.written += w.written;
  for (const [reason, ids] of Object.entries(w.skipped)) add(counts.skipped, reason, ids.length);
  for (const [reason, list] of Object.entries(w.failed) as Array<[FailReason, Array<{ id: string; message: string }>]>) {
    add(counts.failed, reason, list.length);
    addError(report, "IMMUTABLE_ID_REFUSED", `ImmutableId not written (${reason}): ${FAIL_ADVICE[reason]} First answer: ${list[0]?.message ?? ""}`, list.map((f) => f.id));
  }
  if (w.skipped.privilegedUser?.length)
    report.notices.push(`Entra refused to change the ImmutableId of ${w.skipped.privilegedUser.length} user(s) with privileged admin roles (a privileged role is needed): set it for them by hand, e.g. ${w.skipped.privilegedUser.slice(0, 5).join(", ")}.`);
  for (const u of w.upnNotRestored)
    addError(report, "IMMUTABLE_ID_UPN_RESTORE_FAILED", `switchUpn could not put the UPN of user ${u.id} back: it is ${u.temporaryUpn}, it must be ${u.upn}. Restore it by hand now; the user cannot sign in through the federated domain until then.`, [u.id]);
  const secs = w.elapsedMs / 1000;
  if (w.written > 0 && secs > 0) counts.writesPerSecond = Math.round((w.written / secs) * 10) / 10;
}
