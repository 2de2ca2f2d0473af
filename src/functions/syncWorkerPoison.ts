import { app, type InvocationContext } from "@azure/functions";
import { toEntraSyncError } from "../errors.js";
import { parseSyncJob } from "../queue/jobs.js";
import { QUEUES } from "../state/tables.js";
import { failPoisonedJob } from "../runs/worker.js";
import { getApp } from "./app.js";

/** The `syncWorkerPoison` queue function: a job that failed maxDequeueCount times ends its run as failed, with the reason. */
export async function syncWorkerPoisonHandler(message: unknown, context: InvocationContext): Promise<void> {
  let job;
  try {
    job = parseSyncJob(message);
  } catch (e) {
    context.error(`syncWorkerPoison: dropped a malformed poison message: ${toEntraSyncError(e).message}`);
    return;
  }
  // Not context.triggerMetadata.dequeueCount: the host copies the job into the poison queue as a new message, whose
  // count is its own (1 on first delivery), not the worker's failed attempts.
  const r = await failPoisonedJob(getApp(), job);
  context.log(`syncWorkerPoison: run ${job.runId} of ${job.tenantId}: ${r?.status ?? "not found"}`);
}

app.storageQueue("syncWorkerPoison", { queueName: QUEUES.syncJobsPoison, connection: "APP_STORAGE", handler: syncWorkerPoisonHandler });
