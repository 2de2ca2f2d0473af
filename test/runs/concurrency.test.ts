import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { provideApp } from "../../src/functions/app.js";
import { startRunHandler } from "../../src/functions/startRun.js";
import { syncWorkerHandler } from "../../src/functions/syncWorker.js";
import { syncWorkerPoisonHandler } from "../../src/functions/syncWorkerPoison.js";
import { LeaseStore } from "../../src/runs/lease.js";
import { scheduleDueRuns } from "../../src/runs/scheduler.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { memoryLogger } from "../../src/log.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { drainQueue, movableClock } from "./helpers.js";
import azureFunctions from "@azure/functions";

const { HttpRequest, InvocationContext } = azureFunctions;
const clock = movableClock();
const log = memoryLogger();
const stackOf = useLocalStack({ clock: clock.now, log });

const post = (tenantId: string, body: unknown = {}) =>
  startRunHandler(new HttpRequest({ method: "POST", url: `http://localhost/api/tenants/${tenantId}/runs`, body: { string: JSON.stringify(body) }, params: { tenantId } }), new InvocationContext({ functionName: "startRun", logHandler: () => {} }));

const captureIO = (): CliIO & { lines: string[] } => {
  const lines: string[] = [];
  return { lines, out: (t) => lines.push(t), err: (t) => lines.push(t), readStdin: async () => "", isTTY: false };
};

describe("one run per tenant", () => {
  it("20 simultaneous manual requests give one 202 and nineteen 409s naming the run", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const { users, platformUsers } = simpleDirectory(3);
    const { tenant } = await onboard(stack, { users, platformUsers });
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(tenant.tenantId)));
    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted).toHaveLength(1);
    const runId = (accepted[0]!.jsonBody as { runId: string }).runId;
    for (const a of answers.filter((x) => x.status !== 202)) {
      expect(a.status).toBe(409);
      expect((a.jsonBody as { error: { code: string }; activeRunId: string }).error.code).toBe("RUN_IN_PROGRESS");
      expect((a.jsonBody as { activeRunId: string }).activeRunId).toBe(runId);
    }
    // The scheduler and the CLI see the tenant busy too.
    const tick = await scheduleDueRuns(stack.app);
    expect(tick.jobs.some((j) => j.tenantId === tenant.tenantId)).toBe(false);
    const io = captureIO();
    expect(await runCli(["run", "--tenant", tenant.tenantId], io, () => stack.app)).toBe(3); // busy: a conflict, not bad input
    expect(io.lines.join("\n")).toMatch(new RegExp(`RUN_IN_PROGRESS.*${runId}`));

    // The same job delivered 20 times at once: one invocation runs it, the others are dropped with a log line.
    const [job] = (await drainQueue(stack.app)).filter((j) => j.tenantId === tenant.tenantId);
    expect(job).toMatchObject({ runId, continuation: 0 });
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => processSyncJob(stack.app, job!)));
    expect(outcomes.filter((o) => o.outcome === "completed")).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === "dropped")).toHaveLength(19);
    expect(log.lines.filter((l) => l.includes("dropped sync job") && l.includes(runId)).length).toBeGreaterThanOrEqual(19);
    const runs = await stack.app.runs.list(tenant.tenantId);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ runId, status: "succeeded", progress: { invocations: 1 } });
    expect(runs[0]!.update.read).toBe(3);
    // A redelivery after the run ended is dropped too, through the queue function.
    await syncWorkerHandler(job, new InvocationContext({ functionName: "syncWorker", logHandler: () => {} }));
    expect((await stack.app.runs.get(tenant.tenantId, runId))?.progress.invocations).toBe(1);
    // The lease is free again: the next manual request gets a new run.
    expect((await post(tenant.tenantId, { mode: "full", dryRun: true })).status).toBe(202);
  });

  it("a timer tick and manual requests at once give exactly one run", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const { tenant } = await onboard(stack, { users: simpleDirectory(2).users });
    const [tick, ...answers] = await Promise.all([scheduleDueRuns(stack.app), ...Array.from({ length: 5 }, () => post(tenant.tenantId))]);
    const scheduled = tick.jobs.filter((j) => j.tenantId === tenant.tenantId).length;
    expect(scheduled + answers.filter((a) => a.status === 202).length).toBe(1);
    expect(answers.filter((a) => a.status === 409).length).toBe(5 - (1 - scheduled));
    await drainQueue(stack.app);
  });

  it("takes a lease over only after it expired (fake clock)", async () => {
    const stack = stackOf();
    const leases = new LeaseStore(stack.app.tables.tenantState, clock.now, { queuedMs: 60_000, workingMs: 30_000 });
    const tenantId = "11111111-2222-4333-8444-555555555555";
    const claimed = await leases.claim(tenantId, "run-a");
    expect(claimed.ok).toBe(true);
    expect((await leases.claim(tenantId, "run-b")).ok).toBe(false);
    const a = await leases.take(tenantId, "run-a", 0, "owner-a");
    expect(a.ok).toBe(true);
    const b = await leases.take(tenantId, "run-a", 0, "owner-b");
    expect(b).toMatchObject({ ok: false });
    clock.advance(20_000);
    if (!a.ok) throw new Error("not taken");
    const renewed = await leases.renew(a.lease);
    expect(renewed).toBeDefined();
    clock.advance(20_000); // 40 s after taking, 20 s after renewing: still held
    expect((await leases.take(tenantId, "run-a", 0, "owner-b")).ok).toBe(false);
    expect((await leases.claim(tenantId, "run-b")).ok).toBe(false);
    clock.advance(11_000); // past the renewed expiry
    const takeover = await leases.take(tenantId, "run-a", 0, "owner-b");
    expect(takeover.ok).toBe(true);
    // The old holder finds out at its next renewal and cannot release the new holder's lease.
    expect(await leases.renew(renewed!)).toBeUndefined();
    expect(await leases.release(renewed!)).toBe(false);
    expect((await leases.get(tenantId))?.owner).toBe("owner-b");
    // A stale job (an earlier continuation) is dropped.
    expect((await leases.take(tenantId, "run-a", 0, "owner-c")).ok).toBe(false);
  });

  it("a poison message ends its run as failed with the reason and frees the tenant", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const { tenant } = await onboard(stack, { users: simpleDirectory(2).users });
    const answer = await post(tenant.tenantId);
    const runId = (answer.jsonBody as { runId: string }).runId;
    await drainQueue(stack.app);
    const ctx = new InvocationContext({ functionName: "syncWorkerPoison", triggerMetadata: { dequeueCount: 1 } });
    await syncWorkerPoisonHandler({ tenantId: tenant.tenantId, runId, continuation: 0 }, ctx);
    const r = await stack.app.runs.get(tenant.tenantId, runId);
    expect(r?.status).toBe("failed");
    expect(r?.failure?.code).toBe("RUN_POISONED");
    expect(r?.failure?.message).toMatch(/failed repeatedly.*poison queue/);
    expect((await stack.app.health.get(tenant.tenantId)).consecutiveFailures).toBe(1);
    expect((await post(tenant.tenantId)).status).toBe(202);
    await drainQueue(stack.app);
  });
});
