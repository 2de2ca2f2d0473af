import type { TableClient } from "@azure/data-tables";
import type { JobQueue } from "../queue/jobs.js";
import type { Settings } from "../config/settings.js";
import { EntraSyncError, toEntraSyncError } from "../errors.js";
import type { SyncJob } from "../queue/jobs.js";
import { FullReadSlots, readsInFull } from "./admission.js";
import { endRun, executeRun, type ExecuteResult, type RunDeps, type RunRequest } from "./execute.js";
import type { Lease } from "../state/leases.js";
import { newOwner } from "./lease.js";
import { addError, isTerminal, type RunReport } from "./report.js";
import { startRun, type StartDeps } from "./start.js";

/** The adapters the queue worker and CLI runs need (the App provides them all). */
export interface WorkerDeps extends RunDeps, StartDeps {
  settings: Pick<Settings, "runTimeBudgetSeconds" | "maxConcurrentFullReads"> & Partial<Pick<Settings, "holdExpiryHours" | "audit">>;
  /** The full-read slots live in the tenant state table (partition `!fullreads`). */
  tables: RunDeps["tables"] & { tenantState: TableClient };
  queue: Pick<JobQueue, "send">;
}

export interface WorkerOptions {
  /** How long this invocation may work before it hands the run to a continuation (default RUN_TIME_BUDGET_SECONDS). */
  budgetMs?: number;
  /** How often the lease is renewed while the run works (default a third of the lease time). */
  renewEveryMs?: number;
  /** Passed to executeRun: called after every page with the live report. */
  onProgress?: (report: RunReport) => void;
  /** How long a run at the front of the line for a full-read slot stays invisible in the queue before it asks again (default 30 s; further back, × ⌈position ÷ limit⌉, at most 10 minutes). */
  deferSeconds?: number;
}

export type JobOutcome =
  | { outcome: "completed"; report: RunReport }
  | { outcome: "continued"; report: RunReport; next: SyncJob }
  | { outcome: "dropped"; reason: string }
  | { outcome: "deferred"; report: RunReport; next: SyncJob; position: number }
  | { outcome: "lost"; report: RunReport };

/**
 * Works on one queue job: takes the tenant's lease for this invocation (or drops the job with a log line when
 * another invocation or run holds it, or when the job is stale), runs until done or until the time budget is
 * spent, then releases the lease, or hands it to a continuation job it enqueues. A run continued any number of
 * times stays one run with one report.
 */
export async function processSyncJob(app: WorkerDeps, job: SyncJob, o: WorkerOptions = {}): Promise<JobOutcome> {
  const ids = { tenantId: job.tenantId, runId: job.runId, continuation: job.continuation };
  const report = await app.runs.get(job.tenantId, job.runId);
  if (!report) return drop(app, ids, "the run does not exist");
  if (isTerminal(report)) return drop(app, ids, `the run has already ended (${report.status})`);
  const owner = newOwner();
  const taken = await app.leases.take(job.tenantId, job.runId, job.continuation, owner);
  if (!taken.ok) return drop(app, ids, taken.reason);

  const budgetMs = o.budgetMs ?? app.settings.runTimeBudgetSeconds * 1000;
  const deferSeconds = o.deferSeconds ?? 30;
  const slots = fullReadSlots(app, budgetMs, deferSeconds);
  let fullRead = false;
  try {
    fullRead = await readsInFull(app.checkpoints, report);
    if (fullRead) {
      const a = await slots.acquire({ tenantId: job.tenantId, runId: job.runId, queuedAt: report.queuedAt });
      if (!a.admitted) return await defer(app, job, report, taken.lease, a);
      if (report.waiting) {
        const waited = Math.round((app.clock().getTime() - Date.parse(report.waiting.since)) / 1000);
        report.notices.push(`Waited ${waited} s in line for a full-read slot (MAX_CONCURRENT_FULL_READS = ${slots.limit}).`);
        report.waiting = undefined;
        await app.runs.save(report);
      }
    }
  } catch (e) {
    await app.leases.letGo(taken.lease).catch(() => undefined);
    throw e;
  }
  const held = holdLease(app, taken.lease, o.renewEveryMs);
  let result: ExecuteResult;
  try {
    result = await executeRun(app, job.tenantId, job.runId, { deadline: Date.now() + budgetMs, shouldStop: held.lost, onProgress: o.onProgress });
  } catch (e) {
    // Storage failed under the run: give the hold back so the host's retry of this job can take it, and remember
    // why, so that a poison message can say so.
    const err = toEntraSyncError(e);
    const lease = await held.stop();
    if (lease) await app.leases.letGo(lease).catch(() => undefined);
    await recordWorkerError(app, job, err).catch(() => undefined);
    throw err;
  }
  const lease = await held.stop();
  if (!lease) {
    app.log.warn("lost the run lease while working; another invocation took over", ids);
    return { outcome: "lost", report: result.report };
  }
  if (result.completed) {
    await app.leases.release(lease);
    if (fullRead) await slots.release(job.runId).catch((e: unknown) => app.log.warn(`could not free the full-read slot (it expires by itself): ${toEntraSyncError(e).message}`, ids));
    for (const o of app.runObservers) {
      if (o.afterRelease) await o.afterRelease(result.report).catch((e: unknown) => app.log.warn(`observer ${o.name} failed after the run: ${toEntraSyncError(e).message}`, ids));
    }
    return { outcome: "completed", report: result.report };
  }
  const next: SyncJob = { tenantId: job.tenantId, runId: job.runId, continuation: job.continuation + 1 };
  const handed = await app.leases.handOff(lease, next.continuation);
  if (!handed) {
    app.log.warn("lost the run lease before handing it to the continuation", ids);
    return { outcome: "lost", report: result.report };
  }
  try {
    await app.queue.send(next);
  } catch (e) {
    // Hand the lease back to this job's continuation number, so the host's retry of this very job can take it.
    await app.leases.handOff(handed, job.continuation).catch(() => undefined);
    throw e;
  }
  app.log.info("time budget spent; continuation enqueued", { ...ids, next: next.continuation, pages: result.report.progress.pages });
  return { outcome: "continued", report: result.report, next };
}

/** The full-read slots of the app's storage account; a slot outlives an invocation's budget by five minutes (for its continuation). */
function fullReadSlots(app: Pick<WorkerDeps, "tables" | "clock" | "settings">, budgetMs: number, deferSeconds: number): FullReadSlots {
  return new FullReadSlots(app.tables.tenantState, app.clock, app.settings.maxConcurrentFullReads, { holdMs: budgetMs + 5 * 60_000, waitMs: Math.max(120, 4 * deferSeconds) * 1000, askEveryMs: deferSeconds * 1000 });
}

/**
 * A run that must read in full while every slot is taken (or earlier runs wait): it stays queued and is asked again
 * after `deferSeconds` × ⌈position ÷ limit⌉ (at most 10 minutes) as a new message of the same job (never a failure,
 * never a poison count); the lease waits for it, and the report says it is waiting and where in line.
 */
async function defer(app: WorkerDeps, job: SyncJob, report: RunReport, lease: Lease, a: { position: number; atLeast?: boolean; inUse: number; limit: number; askAgainMs: number }): Promise<JobOutcome> {
  const now = app.clock().toISOString();
  report.waiting = { for: "fullReadSlot", position: a.position, ...(a.atLeast ? { atLeast: true } : {}), inUse: a.inUse, limit: a.limit, since: report.waiting?.since ?? now, checkedAt: now };
  await app.runs.save(report);
  const handed = await app.leases.handOff(lease, job.continuation);
  if (!handed) {
    app.log.warn("lost the run lease while it waited for a full-read slot", { ...job });
    return { outcome: "lost", report };
  }
  // Back in line after deferSeconds × ⌈position ÷ limit⌉: a run far back asks less often (see FullReadSlots.acquire).
  await app.queue.send(job, Math.ceil(a.askAgainMs / 1000));
  app.log.info(`waiting for a full-read slot: ${a.position}${a.atLeast ? " or later" : ""} in line, ${a.inUse} of ${a.limit} slots in use`, { ...job });
  return { outcome: "deferred", report, next: job, position: a.position };
}

function drop(app: Pick<WorkerDeps, "log">, ids: Record<string, unknown>, reason: string): JobOutcome {
  app.log.info(`dropped sync job: ${reason}`, ids);
  return { outcome: "dropped", reason };
}

async function recordWorkerError(app: Pick<WorkerDeps, "runs">, job: SyncJob, err: EntraSyncError): Promise<void> {
  const r = await app.runs.get(job.tenantId, job.runId);
  if (!r || isTerminal(r)) return;
  addError(r, err.code, `Invocation ${job.continuation} failed: ${err.message}`);
  await app.runs.save(r);
}

/**
 * Ends the run of a job the host moved to the poison queue (it failed maxDequeueCount times): the run is marked
 * failed with the reason, its lease released and the observers told.
 */
export async function failPoisonedJob(app: Omit<WorkerDeps, "queue">, job: SyncJob): Promise<RunReport | undefined> {
  const r = await app.runs.get(job.tenantId, job.runId);
  if (!r || isTerminal(r)) {
    app.log.info("poison sync job of a run that has ended; nothing to do", { ...job });
    return r;
  }
  const last = [...r.errors].reverse().find((e) => e.message.startsWith("Invocation "));
  const failure = new EntraSyncError(
    "RUN_POISONED",
    `The worker failed repeatedly on invocation ${job.continuation} of run ${job.runId}, so the host moved its job to the poison queue${last ? `; the last error was ${last.code}: ${last.message}` : ""}. The next run resumes from the checkpoint.`,
    { retryable: false },
  );
  const saved = await endRun(app, r, { failure });
  await app.leases.releaseRun(job.tenantId, job.runId);
  await fullReadSlots(app, app.settings.runTimeBudgetSeconds * 1000, 30).release(job.runId).catch(() => undefined);
  app.log.error("run failed: its job was poisoned", { tenantId: job.tenantId, runId: job.runId });
  return saved;
}

/**
 * Runs a tenant now in this process (CLI): claims the lease as its owner (RUN_IN_PROGRESS naming the active run when
 * another run holds it), renews it while the run works and releases it at the end.
 */
export async function runWithLease(app: Omit<WorkerDeps, "settings" | "queue">, req: RunRequest, o: { onProgress?: (r: RunReport) => void; renewEveryMs?: number } = {}): Promise<RunReport> {
  const owner = newOwner();
  const { report, lease } = await startRun(app, req, { owner });
  const held = holdLease(app, lease, o.renewEveryMs);
  let result: ExecuteResult;
  try {
    result = await executeRun(app, report.tenantId, report.runId, { shouldStop: held.lost, onProgress: o.onProgress });
  } finally {
    const last = await held.stop();
    if (last) await app.leases.release(last).catch(() => undefined);
  }
  if (!result.completed) {
    // Only a lost lease stops a run without a deadline; end the report so it does not stay "running".
    // No observer is told here (as before): the run that claimed the lease records this one as abandoned when it starts.
    const r = result.report;
    return endRun(app, r, { failure: new EntraSyncError("RUN_ABANDONED", `Run ${r.runId} lost its lease to another run and stopped; the other run resumes from the checkpoint.`), notify: false });
  }
  return result.report;
}

/** Keeps a lease renewed on a timer while work goes on; `stop` returns the latest lease, or undefined when it was lost. */
function holdLease(app: Pick<WorkerDeps, "leases" | "log">, first: Lease, renewEveryMs?: number): { lost: () => boolean; stop: () => Promise<Lease | undefined> } {
  let lease: Lease | undefined = first;
  let pending: Promise<void> = Promise.resolve();
  const every = renewEveryMs ?? Math.max(1000, Math.floor(app.leases.times.workingMs / 3));
  const timer = setInterval(() => {
    pending = pending.then(async () => {
      if (!lease) return;
      try {
        lease = await app.leases.renew(lease);
        if (!lease) app.log.warn("run lease lost to another invocation", { tenantId: first.tenantId, runId: first.runId });
      } catch (e) {
        app.log.warn(`could not renew the run lease: ${toEntraSyncError(e).message}`, { tenantId: first.tenantId, runId: first.runId });
      }
    });
  }, every);
  timer.unref?.();
  return {
    lost: () => lease === undefined,
    async stop() {
      clearInterval(timer);
      await pending;
      return lease;
    },
  };
}
