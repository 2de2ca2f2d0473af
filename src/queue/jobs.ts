import { QueueClient } from "@azure/storage-queue";
import type { TokenCredential } from "@azure/core-auth";
import { z } from "zod";
import type { Settings } from "../config/settings.js";
import { EntraSyncError } from "../errors.js";
import { QUEUES } from "../state/tables.js";
import { mapLimit } from "../util/concurrency.js";

/** One message of the sync-jobs queue: start or continue one run of one tenant. */
export const syncJobSchema = z
  .object({
    tenantId: z.string(),
    runId: z.string(),
    /** 0 for the first invocation of a run, then 1, 2 … for continuations. */
    continuation: z.number().int().min(0),
  })
  .strict();
export type SyncJob = z.infer<typeof syncJobSchema>;

/** Parses a queue message (the Functions host hands over the decoded JSON or a string). */
export function parseSyncJob(message: unknown): SyncJob {
  let value = message;
  if (typeof message === "string") {
    try {
      value = JSON.parse(message);
    } catch {
      throw new EntraSyncError("INPUT_INVALID", `A sync job message is not JSON: ${JSON.stringify(message.slice(0, 100))}.`, { retryable: false });
    }
  }
  const r = syncJobSchema.safeParse(value);
  if (!r.success) throw new EntraSyncError("INPUT_INVALID", `A sync job message is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}.`, { retryable: false });
  return r.data;
}

/** The sync-jobs queue. Messages are base64 JSON, as the Functions queue trigger expects by default. */
export class JobQueue {
  constructor(readonly client: QueueClient) {}

  async ensure(): Promise<void> {
    await this.client.createIfNotExists();
  }

  async send(job: SyncJob, visibilityDelaySeconds = 0): Promise<void> {
    await this.client.sendMessage(Buffer.from(JSON.stringify(job)).toString("base64"), visibilityDelaySeconds > 0 ? { visibilityTimeout: Math.ceil(visibilityDelaySeconds) } : {});
  }

  /** Sends many jobs with bounded parallelism (Storage queues have no batch send). */
  async sendMany(jobs: readonly SyncJob[], delays?: readonly number[]): Promise<void> {
    await mapLimit(jobs.map((j, i) => [j, delays?.[i] ?? 0] as const), 32, ([j, d]) => this.send(j, d));
  }

  /** Takes up to `max` messages (for the local runner and tests; in Azure the Functions host does this). */
  async receive(max = 32, visibilityTimeout = 300): Promise<Array<{ job: unknown; messageId: string; popReceipt: string; dequeueCount: number }>> {
    const r = await this.client.receiveMessages({ numberOfMessages: Math.min(32, max), visibilityTimeout });
    return r.receivedMessageItems.map((m) => {
      let job: unknown;
      try {
        job = JSON.parse(Buffer.from(m.messageText, "base64").toString("utf8"));
      } catch {
        job = m.messageText;
      }
      return { job, messageId: m.messageId, popReceipt: m.popReceipt, dequeueCount: m.dequeueCount };
    });
  }

  async delete(messageId: string, popReceipt: string): Promise<void> {
    await this.client.deleteMessage(messageId, popReceipt);
  }
}

export function createQueueClient(storage: Settings["storage"], credential: TokenCredential, name: string = QUEUES.syncJobs): QueueClient {
  if (storage.kind === "connectionString") return new QueueClient(storage.connectionString, name);
  return new QueueClient(`${storage.queueUrl.replace(/\/+$/, "")}/${name}`, credential);
}
