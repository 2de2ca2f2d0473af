import { app, type InvocationContext } from "@azure/functions";
import { toEntraSyncError } from "../errors.js";
import { parseSyncJob } from "../queue/jobs.js";
import { QUEUES } from "../state/tables.js";
import { processSyncJob } from "../runs/worker.js";
import { getApp } from "./app.js";

/**
 * The `syncWorker` queue function: works on one job of `sync-jobs` within the time budget. A malformed message is
 * logged and dropped (retrying cannot fix it); a storage failure is thrown so the host retries the job, and after
 * maxDequeueCount moves it to `sync-jobs-poison`.
 */
export async function syncWorkerHandler(message: unknown, context: InvocationContext): Promise<void> {
  let job;
  try {
    job = parseSyncJob(message);
  } catch (e) {
    context.error(`syncWorker: dropped a malformed job: ${toEntraSyncError(e).message}`);
    return;
  }
  const r = await processSyncJob(getApp(), job);
  context.log(`syncWorker: run ${job.runId} of ${job.tenantId} (invocation ${job.continuation}): ${r.outcome}${r.outcome === "dropped" ? ` (${r.reason})` : ` (${r.report.status})`}`);
}

app.storageQueue("syncWorker", { queueName: QUEUES.syncJobs, connection: "APP_STORAGE", handler: syncWorkerHandler });
