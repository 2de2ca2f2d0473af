import { describe, expect, it } from "vitest";
import { EntraSyncError } from "../../src/errors.js";
import { getRun, listRuns, requestRun } from "../../src/functions/api.js";
import { isActive } from "../../src/runs/lease.js";
import { addError, newReport, newRunId, REPORT_LIMITS, type RunReport } from "../../src/runs/report.js";
import { scheduleDueRuns } from "../../src/runs/scheduler.js";
import { listTenantStatuses } from "../../src/runs/status.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { saveEnded } from "../../src/runs/execute.js";
import { createQueueClient, JobQueue } from "../../src/queue/jobs.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { drainQueue, movableClock } from "./helpers.js";

const clock = movableClock(Date.parse("2026-05-04T08:00:00Z"));
const stackOf = useLocalStack({ clock: clock.now });

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof EntraSyncError ? e.code : `not an EntraSyncError: ${String(e)}`;
  }
}

const reportFor = (tenantId: string): RunReport => newReport({ runId: newRunId(clock.now()), tenantId, tenantName: "School", trigger: "manual", mode: "incremental", dryRun: false, now: clock.now() });

describe("a run always ends", () => {
  it("a 17,000-character upstream error: the run ends failed with a capped message, health is told, the tenant is free", async () => {
    const stack = stackOf();
    const { app, sim } = stack;
    const { users, platformUsers } = simpleDirectory(2);
    const { tenant } = await onboard(stack, { users, platformUsers });
    sim.control.injectFault({ method: "GET", path: "/users/delta", tenantId: tenant.tenantId, status: 400, body: { error: { code: "BadRequest", message: "y".repeat(17_000) } } });
    expect((await requestRun(app, tenant.tenantId, "{}")).status).toBe(202);
    const [job] = await drainQueue(app);
    const outcome = await processSyncJob(app, job!);
    expect(outcome.outcome).toBe("completed");

    const stored = (await app.runs.get(tenant.tenantId, job!.runId))!;
    expect(stored.status).toBe("failed");
    expect(stored.failure?.code).toBe("GRAPH_REQUEST_FAILED");
    expect(stored.failure!.message).toMatch(/… \(\d+ characters cut\)$/);
    expect(stored.failure!.message.length).toBeLessThan(2_100);
    expect(await app.health.get(tenant.tenantId)).toMatchObject({ consecutiveFailures: 1, lastRun: { runId: job!.runId, status: "failed" } });
    expect(isActive(await app.leases.get(tenant.tenantId), clock.now())).toBe(false);
    clock.advance(1000);
    expect((await requestRun(app, tenant.tenantId, "{}")).status).toBe(202);
    await drainQueue(app);
  });

  it("a long report is stored across properties and read back whole; lists in it are capped with counts", async () => {
    const { app } = stackOf();
    const tenantId = "5a0c1e2d-0000-4000-8000-00000000aaaa";
    const r = reportFor(tenantId);
    for (let i = 0; i < REPORT_LIMITS.errors + 10; i++) addError(r, "UPDATE_FAILED", `error ${i}: ${"z".repeat(3_000)}`, Array.from({ length: 120 }, (_, u) => `user-${i}-${u}`));
    expect(r.errors).toHaveLength(REPORT_LIMITS.errors);
    expect(r.moreErrors).toBe(10);
    expect(r.errors[0]!.users).toHaveLength(REPORT_LIMITS.usersPerError);
    expect(r.errors[0]!.moreUsers).toBe(120 - REPORT_LIMITS.usersPerError);
    expect(JSON.stringify(r).length).toBeGreaterThan(64 * 1024); // more than one property holds
    await app.runs.save(r);
    expect(await app.runs.get(tenantId, r.runId)).toEqual(r);
    // Notices are capped on the way to storage, and a report read back and saved again keeps its counts.
    r.notices = Array.from({ length: REPORT_LIMITS.notices + 7 }, (_, i) => `notice ${i}`);
    await app.runs.save(r);
    const back = (await app.runs.get(tenantId, r.runId))!;
    expect(back.notices).toHaveLength(REPORT_LIMITS.notices);
    expect(back.moreNotices).toBe(7);
    await app.runs.save(back);
    expect(await app.runs.get(tenantId, r.runId)).toEqual(back);
    expect((await app.runs.list(tenantId, 5)).map((x) => x.runId)).toContain(r.runId);
  });

  it("a report too large for one entity: nothing half-written, and the run ends with a minimal failed report (REPORT_TOO_LARGE)", async () => {
    const { app } = stackOf();
    const tenantId = "5a0c1e2d-0000-4000-8000-00000000bbbb";
    const r = reportFor(tenantId);
    r.status = "running";
    r.startedAt = clock.now().toISOString();
    r.update.read = 1234;
    r.immutableId = { candidates: 0, planned: 0, written: 0, skipped: Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`reason-${i}-${"r".repeat(10)}`, i])), failed: {} };
    expect(await codeOf(app.runs.save(r))).toBe("REPORT_TOO_LARGE");
    expect(await app.runs.get(tenantId, r.runId)).toBeUndefined();

    r.status = "succeeded";
    r.endedAt = clock.now().toISOString();
    const saved = await saveEnded(app, r);
    expect(saved).toMatchObject({ runId: r.runId, status: "failed", failure: { code: "REPORT_TOO_LARGE" }, update: { read: 1234 } });
    expect(await app.runs.get(tenantId, r.runId)).toEqual(saved);
  });

  it("a run whose lease expired while it was running is shown as abandoned, recorded so by the scheduler, and pruned when old", async () => {
    const stack = stackOf();
    const { app } = stack;
    const { users, platformUsers } = simpleDirectory(2);
    const { tenant } = await onboard(stack, { users, platformUsers });
    const id = tenant.tenantId;
    expect((await requestRun(app, id, "{}")).status).toBe(202);
    const [job] = await drainQueue(app);
    // A worker takes the run and dies mid-way: the report says running, the lease is never renewed.
    expect((await app.leases.take(id, job!.runId, 0, "dead-worker")).ok).toBe(true);
    const r = (await app.runs.get(id, job!.runId))!;
    r.status = "running";
    r.startedAt = clock.now().toISOString();
    await app.runs.save(r);
    expect(((await getRun(app, id, job!.runId)).body as RunReport).status).toBe("running");

    clock.advance(app.leases.times.workingMs + 1000);
    const shown = (await getRun(app, id, job!.runId)).body as RunReport;
    expect(shown).toMatchObject({ status: "failed", failure: { code: "RUN_ABANDONED" } });
    expect(((await listRuns(app, id, "5")).body as { runs: RunReport[] }).runs[0]).toMatchObject({ runId: job!.runId, status: "failed", failure: { code: "RUN_ABANDONED" } });
    const [status] = await listTenantStatuses(app, id);
    expect(status).toMatchObject({ activeRun: null, abandonedRun: { runId: job!.runId } });

    // The scheduler starts a new run and records the old one as failed; health hears of it.
    const tick = await scheduleDueRuns(app);
    expect(tick.enqueued).toBe(1);
    expect(tick.jobs[0]!.runId).not.toBe(job!.runId);
    expect(await app.runs.get(id, job!.runId)).toMatchObject({ status: "failed", failure: { code: "RUN_ABANDONED" } });
    expect(await app.health.get(id)).toMatchObject({ consecutiveFailures: 1, lastRun: { runId: job!.runId, status: "failed" } });
    await drainQueue(app);

    // A run still marked running long after any lease could last is pruned like any other old run.
    const stale = { ...reportFor(id), status: "running" as const, queuedAt: new Date(clock.now().getTime() - 40 * 86_400_000).toISOString() };
    await app.runs.save(stale);
    expect(await app.runs.prune(id, 100, 30, clock.now())).toBe(1);
    expect(await app.runs.get(id, stale.runId)).toBeUndefined();
  });

  it("every ended run carries its duration, also one whose queue message could not be sent", async () => {
    const stack = stackOf();
    const { app } = stack;
    const { users, platformUsers } = simpleDirectory(1);
    const { tenant } = await onboard(stack, { users, platformUsers });
    const id = tenant.tenantId;
    // The queue does not exist: the real Storage SDK refuses the message, so the run can never start.
    const noQueue = { ...app, queue: new JobQueue(createQueueClient(stack.settings.storage, undefined as never, "no-such-queue")) };
    const res = await requestRun(noQueue, id, "{}");
    expect(res.status).toBeGreaterThanOrEqual(500);
    const [failed] = ((await listRuns(app, id, "1")).body as { runs: RunReport[] }).runs;
    expect(failed).toMatchObject({ status: "failed", failure: { code: "STORAGE_FAILED" } });
    expect(failed!.endedAt).toBeDefined();
    expect(failed!.durationMs).toBe(Date.parse(failed!.endedAt!) - Date.parse(failed!.queuedAt));
    // The run never started: health is not told, and the tenant is free for the next run.
    expect((await app.health.get(id))?.lastRun).toBeUndefined();
    expect((await requestRun(app, id, "{}")).status).toBe(202);
    const [job] = await drainQueue(app);
    expect(await processSyncJob(app, job!)).toMatchObject({ outcome: "completed", report: { status: "succeeded" } });

    for (const r of ((await listRuns(app, id, "5")).body as { runs: RunReport[] }).runs) expect(r.durationMs, `run ${r.runId} (${r.status})`).toBeTypeOf("number");
  });
});
