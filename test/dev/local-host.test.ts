import { TableClient } from "@azure/data-tables";
import { QueueClient } from "@azure/storage-queue";
import { fetch } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { nextOccurrence, queueOptionsFromHostJson, resolveSettings, startLocalHost, type LocalHost, type LocalHostOptions } from "../../dev/local-host.js";
import { functionsHostSettings } from "../../dev/stack.js";
import { provideApp } from "../../src/functions/app.js";
import { LeaseStore } from "../../src/runs/lease.js";
import { requestRun } from "../../src/functions/api.js";
import type { RunReport } from "../../src/runs/report.js";
import { QUEUES } from "../../src/state/tables.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();
/** Once a year: the timers stay quiet in the tests that are not about them. */
const QUIET = "0 0 0 1 1 *";
const TERMINAL = ["succeeded", "partial", "failed", "skipped"];
let host: LocalHost | undefined;

const start = (settings: Record<string, string> = {}, o: Partial<LocalHostOptions> = {}) =>
  startLocalHost({
    appSettings: { ...functionsHostSettings(stackOf()), SYNC_SCHEDULE: QUIET, SECRET_CHECK_SCHEDULE: QUIET, ...settings },
    // A failed message is retried at once here (host.json says 30 s).
    queues: { visibilityTimeoutMs: 0, maxPollingIntervalMs: 1000 },
    ...o,
  });

/** Polls until `probe` gives a value, for at most `ms` (a bound, not an assertion on time). */
async function waitFor<T>(probe: () => Promise<T | undefined>, ms = 45_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`gave up waiting after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(() => provideApp(stackOf().app));
afterEach(async () => {
  await host?.close();
  host = undefined;
  provideApp(stackOf().app);
});
afterAll(() => provideApp(undefined));

describe("the local host (npm run stack): queue and timer triggers", () => {
  it("runs every queue and timer trigger of src/functions from its registration, with %NAME% resolved", async () => {
    host = await start();
    expect([...host.triggers].sort()).toEqual(
      [`queue ${QUEUES.syncJobs} (syncWorker)`, `queue ${QUEUES.syncJobsPoison} (syncWorkerPoison)`, `timer ${QUIET} (scheduler)`, `timer ${QUIET} (secretExpiryCheck)`].sort(),
    );
  });

  it("refuses to start when a schedule's %NAME% is not set, as the host's indexing does", async () => {
    await expect(start({ SYNC_SCHEDULE: "" })).rejects.toThrow(/%SYNC_SCHEDULE%/);
  });

  it("a run started through the HTTP API is worked by syncWorker from the queue and ends succeeded", async () => {
    const stack = stackOf();
    host = await start();
    const { users, platformUsers } = simpleDirectory(3);
    const { tenant } = await onboard(stack, { users, platformUsers });
    const key = { "x-functions-key": host.functionKey };
    const started = await fetch(`${host.url}/api/tenants/${tenant.tenantId}/runs`, { method: "POST", headers: key });
    expect(started.status).toBe(202);
    const location = started.headers.get("location")!;
    const report = await waitFor(async () => {
      const r = (await (await fetch(`${host!.url}${location}`, { headers: key })).json()) as RunReport;
      return TERMINAL.includes(r.status) ? r : undefined;
    });
    expect(report).toMatchObject({ status: "succeeded", trigger: "manual" });
    expect(report.progress.invocations).toBe(1);
    // The message was deleted on success: nothing is left in the queue, nothing went to poison.
    const queue = new QueueClient(stack.env.AzureWebJobsStorage!, QUEUES.syncJobs);
    expect((await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(0);
    const runs = (await (await fetch(`${host.url}/api/tenants/${tenant.tenantId}/runs`, { headers: key })).json()) as { runs: RunReport[] };
    expect(runs.runs.map((r) => r.status)).toEqual(["succeeded"]);
  });

  it("a job whose handler always throws goes to sync-jobs-poison after maxDequeueCount tries; syncWorkerPoison ends its run as failed", async () => {
    const stack = stackOf();
    const { tenant } = await onboard(stack, { users: simpleDirectory(2).users });
    // Storage fails under the worker: the table its lease lives in is missing (a real 404 from Azurite), so every
    // attempt throws before the run starts.
    const gone = TableClient.fromConnectionString(stack.env.AzureWebJobsStorage!, "nosuchtable", { allowInsecureConnection: true });
    provideApp({ ...stack.app, leases: new LeaseStore(gone, stack.app.clock) });
    const lines: string[] = [];
    host = await start({}, { log: (l) => lines.push(l) });
    const answer = await requestRun(stack.app, tenant.tenantId, "{}");
    expect(answer.status).toBe(202);
    const runId = (answer.body as { runId: string }).runId;
    const report = await waitFor(async () => {
      const r = await stack.app.runs.get(tenant.tenantId, runId);
      return r && TERMINAL.includes(r.status) ? r : undefined;
    });
    expect(report.status).toBe("failed");
    expect(report.failure?.code).toBe("RUN_POISONED");
    // The poison message is a new message with its own dequeueCount (1): it says nothing of the failed attempts.
    expect(report.failure?.message).not.toMatch(/failed 1 times/);
    expect(lines.filter((l) => l.startsWith("[syncWorker] failed on message"))).toHaveLength(5);
    expect(lines.some((l) => l.includes(`moved to ${QUEUES.syncJobsPoison} after 5 failed attempts`))).toBe(true);
    // Both queues end empty: the poison handler's message was deleted once it succeeded.
    for (const name of [QUEUES.syncJobs, QUEUES.syncJobsPoison]) {
      const q = new QueueClient(stack.env.AzureWebJobsStorage!, name);
      await waitFor(async () => ((await q.getProperties()).approximateMessagesCount === 0 ? true : undefined), 10_000);
    }
  });

  it("the scheduler timer runs on SYNC_SCHEDULE, enqueues the due tenant, and the worker runs it", async () => {
    const stack = stackOf();
    const { users, platformUsers } = simpleDirectory(2);
    const { tenant } = await onboard(stack, { users, platformUsers });
    host = await start({ SYNC_SCHEDULE: "*/2 * * * * *" });
    expect(host.triggers).toContain("timer */2 * * * * * (scheduler)");
    const report = await waitFor(async () => {
      const [r] = (await stack.app.runs.list(tenant.tenantId, 5)) as RunReport[];
      return r && r.trigger === "schedule" && TERMINAL.includes(r.status) ? r : undefined;
    });
    expect(report.status).toBe("succeeded");
  });
});

describe("the local host's reading of host.json and schedules", () => {
  it("takes extensions.queues from host.json, with the host's defaults for what it leaves out", () => {
    expect(queueOptionsFromHostJson({})).toMatchObject({ batchSize: 16, newBatchThreshold: 8, maxDequeueCount: 5, visibilityTimeoutMs: 0, messageEncoding: "base64" });
    expect(queueOptionsFromHostJson({ extensions: { queues: { batchSize: 4, newBatchThreshold: 2, maxDequeueCount: 3, visibilityTimeout: "00:00:30", messageEncoding: "none" } } })).toMatchObject({
      batchSize: 4,
      newBatchThreshold: 2,
      maxDequeueCount: 3,
      visibilityTimeoutMs: 30_000,
      messageEncoding: "none",
    });
    expect(() => queueOptionsFromHostJson({ extensions: { queues: { batchSize: 64 } } })).toThrow(/batchSize/);
  });

  it("reads six-field NCRONTAB (seconds first) in UTC and resolves %NAME% from the app settings", () => {
    expect(nextOccurrence("0 */5 * * * *", new Date("2026-03-01T10:02:30Z")).toISOString()).toBe("2026-03-01T10:05:00.000Z");
    expect(nextOccurrence("0 0 6 * * *", new Date("2026-03-01T06:00:00Z")).toISOString()).toBe("2026-03-02T06:00:00.000Z");
    expect(nextOccurrence("*/2 * * * * *", new Date("2026-03-01T10:00:01Z")).toISOString()).toBe("2026-03-01T10:00:02.000Z");
    expect(() => nextOccurrence("*/5 * * * *", new Date())).toThrow(/six fields/);
    expect(resolveSettings("%A% and %B%", { A: "1", B: "2" }, "f")).toBe("1 and 2");
    expect(() => resolveSettings("%MISSING%", {}, "f")).toThrow(/%MISSING%/);
  });
});
