import { EntraSyncError, toEntraSyncError } from "../errors.js";
import { newGraphCounters, type GraphCounters } from "../graph/client.js";
import { addError, failReport, isTerminal, minimalFailedReport, newReport, newRunId, type RunMode, type RunReport, type RunStep, type RunTrigger } from "./report.js";
import type { Tenant } from "../tenants/model.js";
import { pauseAt } from "../tenants/school-year.js";
import { runUpdateSync, type UpdateSyncDeps } from "../sync/update-sync.js";
import { runImmutableIdSync, type ImmutableIdDeps } from "../immutable-id/step.js";
import type { SecretStore } from "../secrets/store.js";
import { signInFor, type TenantSignIn } from "../secrets/federated.js";
import type { TenantRegistry } from "../tenants/registry.js";
import type { RunObserver } from "./observer.js";
import type { RunStore } from "./store.js";
import type { WriteBudgetOptions } from "../graph/write-budget.js";
import type { TenantGraphHandle } from "../graph/tenant-graph.js";
import { ResourceSampler, withRequestCounter, type RequestCounter } from "../util/run-metrics.js";
import type { HoldIndex } from "./hold-index.js";
import { afterFullRound, guardForRun, holdNotice, type RunGuardDeps } from "./hold-guard.js";

/** What ending a run needs: the run store, the clock, the registrations (for the observers) and the observers. */
export interface EndRunDeps {
  clock: () => Date;
  log: UpdateSyncDeps["log"];
  runs: RunStore;
  /** The registrations; `clearFullResync` ends a pending full resync once a full round has completed. */
  tenants: Pick<TenantRegistry, "require" | "get"> & Partial<Pick<TenantRegistry, "clearFullResync">>;
  runObservers: readonly RunObserver[];
}

/** The adapters the run lifecycle needs (the App provides them all; tests may wire their own). */
export interface RunDeps extends EndRunDeps, UpdateSyncDeps, ImmutableIdDeps, Pick<RunGuardDeps, "settings"> {
  /** Held runs by run id (without it a held run can be approved only where the tenant is known). */
  holds?: Pick<HoldIndex, "put"> | undefined;
  /** The connector space, as both steps use it. */
  connector: UpdateSyncDeps["connector"] & ImmutableIdDeps["connector"];
  secrets: Pick<SecretStore, "get">;
  /** A Graph client for a tenant, counting into `counters`. */
  graphFor(tenant: Tenant, signIn: TenantSignIn, counters: GraphCounters): TenantGraphHandle;
}

export interface RunRequest {
  tenantId: string;
  trigger: RunTrigger;
  mode: RunMode;
  dryRun: boolean;
  only?: RunStep[] | undefined;
  force?: boolean | undefined;
  /** Force Immutable ID sync with the reviewed plan of this run (see checkForcePlan). */
  forcePlan?: string | undefined;
  /** The held run whose changes this run applies (an operator approved it): the mass-change guard is bypassed once. */
  approves?: string | undefined;
}

/** The report of a new queued run of a tenant: the one way createRun and startRun make it. */
export function newRunReport(tenant: Tenant, req: RunRequest, now: Date, runId: string = newRunId(now)): RunReport {
  const r = newReport({ runId, tenantId: tenant.tenantId, tenantName: tenant.displayName, trigger: req.trigger, mode: req.mode, dryRun: req.dryRun, only: req.only, force: req.force ?? false, forcePlan: req.forcePlan, now });
  if (req.approves) r.approves = req.approves;
  return r;
}

/**
 * Records a new queued run for a tenant (the tenant must exist) without touching the tenant's lease: for callers
 * that already hold it or need none (tests, benchmarks). startRun (./start.ts) claims the lease with the run.
 */
export async function createRun(app: Pick<EndRunDeps, "tenants" | "clock" | "runs">, req: RunRequest): Promise<RunReport> {
  const tenant = await app.tenants.require(req.tenantId);
  const report = newRunReport(tenant, req, app.clock());
  await app.runs.save(report);
  return report;
}

export interface ExecuteOptions {
  /** Epoch ms after which the run stops cleanly at the next page boundary (a continuation takes over). */
  deadline?: number | undefined;
  /** Asked with the deadline: true stops the run at the next page boundary too (a lost lease). */
  shouldStop?: (() => boolean) | undefined;
  /** Called after every page with the live report (progress bars, live API). */
  onProgress?: ((report: RunReport) => void) | undefined;
  /** Save the live report every N pages (the API shows it while the run works). */
  saveEveryPages?: number;
  /** Delta entries the mass-change guard keeps prepared while it counts (default KEEP_ENTRIES; tests make it small). */
  guardKeepEntries?: number | undefined;
  /** Write budget Immutable ID sync paces to (default Graph's 3,000 per 150 s; tests scale it with the simulator). */
  writeBudget?: WriteBudgetOptions | undefined;
}

export interface ExecuteResult {
  report: RunReport;
  /** False when the run stopped at its deadline and must be continued. */
  completed: boolean;
  tenant?: Tenant | undefined;
}

/**
 * Executes (or continues) one run of one tenant: update sync, then Immutable ID sync, into one report. Use case
 * shared by the queue worker, the CLI and `npm start`; it holds no Azure Functions types.
 */
export async function executeRun(app: RunDeps, tenantId: string, runId: string, o: ExecuteOptions = {}): Promise<ExecuteResult> {
  const counter: RequestCounter = { table: 0, rows: 0 };
  const sampler = new ResourceSampler();
  try {
    return await withRequestCounter(counter, () => executeMeasured(app, tenantId, runId, o, counter, sampler));
  } finally {
    sampler.stop();
  }
}

/** Adds this invocation's cost to the report's metrics (before the report is saved). */
function addMetrics(report: RunReport, counter: RequestCounter, sampler: ResourceSampler): void {
  const m = sampler.stop();
  const prev = report.metrics ?? { tableRequests: 0, tableRowsRead: 0, graphRequests: 0, cpuMs: 0, peakRssMb: 0 };
  report.metrics = {
    tableRequests: prev.tableRequests + counter.table,
    tableRowsRead: prev.tableRowsRead + counter.rows,
    graphRequests: report.graph.requests,
    cpuMs: prev.cpuMs + m.cpuMs,
    peakRssMb: Math.max(prev.peakRssMb, Math.round(m.peakRss / 2 ** 20)),
  };
  counter.table = 0;
  counter.rows = 0;
}

async function executeMeasured(app: RunDeps, tenantId: string, runId: string, o: ExecuteOptions, counter: RequestCounter, sampler: ResourceSampler): Promise<ExecuteResult> {
  const report = await app.runs.get(tenantId, runId);
  if (!report) throw new EntraSyncError("RUN_NOT_FOUND", `Run ${runId} of tenant ${tenantId} does not exist.`, { retryable: false });
  if (isTerminal(report)) return { report, completed: true };
  report.status = "running";
  report.startedAt ??= app.clock().toISOString();
  report.progress.invocations++;
  let tenant: Tenant | undefined;
  let failure: EntraSyncError | undefined;
  try {
    tenant = await app.tenants.require(tenantId);
    // A school-year pause: the run writes nothing (it reads as a dry run, or is skipped), decided when it starts.
    const pause = report.progress.invocations === 1 && !report.dryRun ? pauseAt(tenant.schoolYear, app.clock()) : undefined;
    if (pause) {
      const window = `${pause.from}..${pause.to}`;
      if (!tenant.schoolYear?.readsDuringPause) {
        report.status = "skipped";
        // Nothing is read: a notice of what this run would have read (a mapping change's full read) does not hold.
        const waits = report.notices.some((n) => n.startsWith("The attribute mapping changed"));
        report.notices = report.notices.filter((n) => !n.startsWith("The attribute mapping changed"));
        report.notices.push(`School-year pause ${window}: nothing is read or written until it ends (entra-sync tenant update ${tenantId} --pause none lifts it).${waits ? " The full read the mapping change asked for runs after the pause." : ""}`);
        addMetrics(report, counter, sampler);
        return { report: await endRun(app, report, { tenant }), completed: true, tenant };
      }
      report.dryRun = true;
      report.notices.push(`School-year pause ${window}: this run reads and reports what would change, but writes nothing (a dry run; the tenant's checkpoint does not move).`);
    }
    await app.runs.save(report);
    const signIn = await signInFor(app, tenant);
    const counters = newGraphCounters();
    const base = { ...report.graph };
    const sync = () => {
      report.graph = { requests: base.requests + counters.requests, throttled: base.throttled + counters.throttled, retried: base.retried + counters.retried };
    };
    const { graph } = app.graphFor(tenant, signIn, counters);
    const pastDeadline = () => o.deadline !== undefined && Date.now() >= o.deadline;
    const leaseLost = () => o.shouldStop?.() ?? false;
    const stop = () => pastDeadline() || leaseLost();
    let completed = true;
    if (report.only.includes("update")) {
      let pagesSinceSave = 0;
      // The mass-change guard decides once, when the run starts (its continuations write what it let through).
      const guard = report.progress.invocations === 1 ? await guardForRun(app, tenant, report) : undefined;
      if (guard && o.guardKeepEntries !== undefined) guard.keepEntries = o.guardKeepEntries;
      const outcome = await runUpdateSync(
        { connector: app.connector, directory: app.directory, checkpoints: app.checkpoints, log: app.log, clock: app.clock },
        tenant,
        report,
        {
          graph,
          full: report.mode === "full",
          dryRun: report.dryRun,
          shouldStop: stop,
          guard,
          onPage: async (r) => {
            sync();
            o.onProgress?.(r);
            if (++pagesSinceSave >= (o.saveEveryPages ?? 10)) {
              pagesSinceSave = 0;
              await app.runs.save(r);
            }
          },
        },
      );
      completed = outcome.completed;
      if (outcome.held) {
        report.status = "held";
        report.hold = outcome.held;
        report.notices.push(holdNotice(report, outcome.held));
        await app.holds?.put(tenant.tenantId, report.runId, outcome.held.expiresAt);
      }
      if (completed) await afterFullRound(app, report).catch((e: unknown) => app.log.warn(`could not record the linked users: ${toEntraSyncError(e).message}`, { tenantId, runId }));
      // The full resync a mapping change asked for is done once a real full round has completed.
      if (completed && !outcome.held && tenant.fullResync && report.mode === "full" && !report.dryRun) await app.tenants.clearFullResync?.(tenant.tenantId, tenant.fullResync.requestedAt);
    }
    // Immutable ID sync needs the fresh matches of a completed update sync (or runs alone with --only immutable-id).
    if (completed && report.status !== "held" && report.only.includes("immutableId")) {
      // Each invocation plans again before it writes: past the deadline it still writes its first groups, or a plan
      // that takes longer than the budget would never write anything, invocation after invocation. A lost lease stops
      // it at once: never write beside the new lease holder.
      let groupsWritten = 0;
      const step = await runImmutableIdSync(app, tenant, report, {
        graph,
        budget: o.writeBudget,
        shouldStop: () => leaseLost() || (groupsWritten > 0 && pastDeadline()),
        onProgress: (r) => {
          groupsWritten++;
          sync();
          o.onProgress?.(r);
        },
        grantedRoles: () => graph.grantedRoles().catch(() => undefined),
      });
      completed = step.completed;
    }
    sync();
    if (!completed) {
      addMetrics(report, counter, sampler);
      await app.runs.save(report);
      return { report, completed: false, tenant };
    }
  } catch (e) {
    failure = toEntraSyncError(e);
    app.log.error(`run failed: ${failure.message}`, { tenantId, runId, code: failure.code });
  }
  addMetrics(report, counter, sampler);
  const saved = await endRun(app, report, { failure, tenant: tenant ?? null });
  return { report: saved, completed: true, tenant };
}

export interface EndRunOptions {
  /** Why the run failed (the report is marked failed with it); omit for a run that did its work. */
  failure?: EntraSyncError | undefined;
  /** The registration handed to the observers; null: none. Looked up when omitted. */
  tenant?: Tenant | null;
  /** False: save the report but tell no observer (a run that never started, or one another run has recorded). */
  notify?: boolean;
}

/**
 * Ends a run, the one way every path does it: marks it failed with `failure`, or — when it is still running — partial
 * or succeeded from its counts; sets `endedAt` and `durationMs`; saves it (a minimal failed report when the full one
 * cannot be saved, see saveEnded) and tells the run observers. Returns the report that was saved.
 */
export async function endRun(app: EndRunDeps, report: RunReport, o: EndRunOptions = {}): Promise<RunReport> {
  if (o.failure) failReport(report, o.failure);
  if (report.status === "running") report.status = report.update.failed > 0 || report.errors.some((e) => e.code !== "GRAPH_DELTA_EXPIRED" && e.code !== "MATCH_AMBIGUOUS") ? "partial" : "succeeded";
  report.endedAt = app.clock().toISOString();
  report.durationMs = Date.parse(report.endedAt) - Date.parse(report.startedAt ?? report.queuedAt);
  const saved = await saveEnded(app, report);
  if (o.notify !== false) {
    const tenant = o.tenant === null ? undefined : (o.tenant ?? (await app.tenants.get(report.tenantId).catch(() => undefined)));
    await notifyObservers(app, saved, tenant);
  }
  return saved;
}

/**
 * Saves the report of a run that has ended. When the full report cannot be saved (REPORT_TOO_LARGE, or storage
 * refused it), saves a minimal one instead — status failed, the reason, the counts — so that the run never stays
 * `running`; returns the report that was saved. Throws only when the minimal one cannot be saved either.
 */
export async function saveEnded(app: Pick<EndRunDeps, "clock" | "log" | "runs">, report: RunReport): Promise<RunReport> {
  try {
    await app.runs.save(report);
    return report;
  } catch (e) {
    const err = toEntraSyncError(e, "STORAGE_FAILED");
    const reason =
      err.code === "REPORT_TOO_LARGE"
        ? err
        : new EntraSyncError("STORAGE_FAILED", `The full report of run ${report.runId} could not be saved (${err.code}: ${err.message}); this shorter one records how the run ended.`, { cause: err });
    const minimal = minimalFailedReport(report, reason, report.endedAt ?? app.clock().toISOString());
    if (report.failure && report.failure.code !== reason.code) addError(minimal, report.failure.code, report.failure.message);
    app.log.error(`run report not saved in full: ${reason.message}`, { tenantId: report.tenantId, runId: report.runId, code: reason.code });
    await app.runs.save(minimal);
    return minimal;
  }
}

/** Tells every run observer that a run ended; their failures are logged, never raised. */
export async function notifyObservers(app: Pick<EndRunDeps, "log" | "runObservers">, report: RunReport, tenant: Tenant | undefined): Promise<void> {
  for (const o of app.runObservers) {
    try {
      await o.afterRun(report, tenant);
    } catch (e) {
      app.log.error(`run observer ${o.name} failed: ${e instanceof Error ? e.message : String(e)}`, { tenantId: report.tenantId, runId: report.runId });
    }
  }
}
