import type { Settings } from "../config/settings.js";
import { EntraSyncError, toEntraSyncError } from "../errors.js";
import type { SyncJob } from "../queue/jobs.js";
import { endRun, executeRun, type ExecuteResult, type RunDeps, type RunRequest } from "./execute.js";
import type { Lease } from "../state/leases.js";
import { newOwner } from "./lease.js";
import { addError, isTerminal, type RunReport } from "./report.js";
import { startRun, type StartDeps } from "./start.js";

/** The adapters the queue worker and CLI runs need (the App provides them all). */
export interface WorkerDeps extends RunDeps, StartDeps {
  settings: Pick<Settings, "runTimeBudgetSeconds">;
}

export interface WorkerOptions {
  /** How long this invocation may work before it hands the run to a continuation (default RUN_TIME_BUDGET_SECONDS). */
  budgetMs?: number;
  /** How often the lease is renewed while the run works (default a third of the lease time). */
  renewEveryMs?: number;
  /** Passed to executeRun: called after every page with the live report. */
  onProgress?: (report: RunReport) => void;
}

export type JobOutcome =
  | { outcome: "completed"; report: RunReport }
  | { outcome: "continued"; report: RunReport; next: SyncJob }
  | { outcome: "dropped"; reason: string }
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
export async function failPoisonedJob(app: Omit<WorkerDeps, "settings">, job: SyncJob): Promise<RunReport | undefined> {
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
