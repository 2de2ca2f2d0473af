import { describe, expect, it } from "vitest";
import { AzureNamedKeyCredential, TableClient } from "@azure/data-tables";
import { DEV_ACCOUNT, DEV_KEY } from "../../dev/azurite.js";
import type { App } from "../../src/composition.js";
import type { SyncJob } from "../../src/queue/jobs.js";
import { FullReadSlots } from "../../src/state/full-read-slots.js";
import { startRun } from "../../src/runs/start.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { drainQueue, movableClock } from "./helpers.js";

const clock = movableClock(Date.parse("2026-08-17T06:00:00Z"));
const stackOf = useLocalStack({ clock: clock.now, env: { MAX_CONCURRENT_FULL_READS: "2" } });
const times = { holdMs: 10 * 60_000, waitMs: 2 * 60_000 };

/** Another instance's view of the same slots (same table, own object). */
const otherInstance = (app: App, limit = 2) => new FullReadSlots(app.tables.tenantState, app.clock, limit, times);

async function newTenant(app: ReturnType<typeof stackOf>, name: string) {
  const { users, platformUsers } = simpleDirectory(20);
  return (await onboard(app, { displayName: name, users, platformUsers })).tenant;
}

/** Queues a run of the tenant (as the scheduler or the API does) and returns its job. */
async function queueRun(app: App, tenantId: string, mode: "full" | "incremental" = "incremental"): Promise<SyncJob> {
  clock.advance(1_000); // queuedAt orders the line
  const { report } = await startRun(app, { tenantId, trigger: "schedule", mode, dryRun: false });
  return { tenantId, runId: report.runId, continuation: 0 };
}

describe("admission control of full reads (MAX_CONCURRENT_FULL_READS)", () => {
  it("defers a first sync while the account's slots are taken, reports it waiting, and runs it once a slot frees; an incremental run never waits", async () => {
    const s = stackOf();
    const { app } = s;
    expect(app.settings.maxConcurrentFullReads).toBe(2);
    const busy = otherInstance(app);
    // Two full reads under way on other instances.
    expect((await busy.acquire({ tenantId: "t1", runId: "0000000000001-aaaaaaaa", queuedAt: "2026-08-17T05:00:00.000Z" })).admitted).toBe(true);
    expect((await busy.acquire({ tenantId: "t2", runId: "0000000000002-aaaaaaaa", queuedAt: "2026-08-17T05:00:01.000Z" })).admitted).toBe(true);

    const fresh = await newTenant(s, "Fresh school");
    const job = await queueRun(app, fresh.tenantId);
    const first = await processSyncJob(app, job, { deferSeconds: 1 });
    expect(first.outcome).toBe("deferred");
    const waiting = await app.runs.get(job.tenantId, job.runId);
    expect(waiting).toMatchObject({ status: "queued", waiting: { for: "fullReadSlot", position: 1, inUse: 2, limit: 2 } });
    expect(waiting?.failure).toBeUndefined();
    // The tenant stays claimed by its run, which waits for its job to come back.
    expect(await app.leases.get(job.tenantId)).toMatchObject({ runId: job.runId, owner: "", continuation: 0, released: false });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await drainQueue(app)).toEqual([job]);

    await busy.release("0000000000001-aaaaaaaa");
    const second = await processSyncJob(app, job, { deferSeconds: 1 });
    expect(second.outcome).toBe("completed");
    const done = await app.runs.get(job.tenantId, job.runId);
    expect(done).toMatchObject({ status: "succeeded", progress: { round: "initial" }, update: { read: 20 } });
    expect(done?.waiting).toBeUndefined();
    expect(done?.notices.join("\n")).toMatch(/Waited \d+ s in line for a full-read slot/);
    expect((await otherInstance(app).snapshot()).inUse.map((x) => x.runId)).toEqual(["0000000000002-aaaaaaaa"]);

    // Both slots taken again: the now-synced tenant's incremental run does not wait; a --full run of it does.
    expect((await busy.acquire({ tenantId: "t3", runId: "0000000000003-aaaaaaaa", queuedAt: "2026-08-17T05:00:02.000Z" })).admitted).toBe(true);
    const inc = await queueRun(app, fresh.tenantId);
    expect((await processSyncJob(app, inc)).outcome).toBe("completed");
    expect((await app.runs.get(inc.tenantId, inc.runId))?.progress.round).toBe("incremental");
    const full = await queueRun(app, fresh.tenantId, "full");
    expect((await processSyncJob(app, full, { deferSeconds: 1 })).outcome).toBe("deferred");

    // A slot whose worker crashed frees itself: its hold expires.
    clock.advance(times.holdMs + 1);
    expect((await processSyncJob(app, full, { deferSeconds: 1 })).outcome).toBe("completed");
    expect((await app.runs.get(full.tenantId, full.runId))?.status).toBe("succeeded");
    await drainQueue(app);
  }, 60_000);

  it("admits the longest waiting first, whichever instance asks first", async () => {
    const { app } = stackOf();
    clock.advance(3_600_000); // every earlier slot and place in line has expired
    const a = otherInstance(app, 1);
    const b = otherInstance(app, 1);
    expect((await a.acquire({ tenantId: "x", runId: "0000000000010-aaaaaaaa", queuedAt: "2026-08-17T09:00:00.000Z" })).admitted).toBe(true);
    const early = { tenantId: "e", runId: "0000000000011-aaaaaaaa", queuedAt: "2026-08-17T09:00:01.000Z" };
    const late = { tenantId: "l", runId: "0000000000012-aaaaaaaa", queuedAt: "2026-08-17T09:00:02.000Z" };
    expect(await b.acquire(late)).toMatchObject({ admitted: false, position: 1 });
    expect(await a.acquire(early)).toMatchObject({ admitted: false, position: 1 });
    expect(await b.acquire(late)).toMatchObject({ admitted: false, position: 2 });
    await a.release("0000000000010-aaaaaaaa");
    // The later run asks first, but the earlier one is still in line: the slot waits for it.
    expect(await b.acquire(late)).toMatchObject({ admitted: false, position: 2 });
    expect(await a.acquire(early)).toMatchObject({ admitted: true });
    await a.release(early.runId);
    expect(await b.acquire(late)).toMatchObject({ admitted: true });
    await b.release(late.runId);
  });

  it("an ask reads the slots and the places ahead of its own, not the whole line; a run far back asks less often", async () => {
    const { app } = stackOf();
    clock.advance(3_600_000);
    // Rows each ask reads, counted in the real table client's pipeline (entities in its answers to queries).
    let rowsRead = 0;
    const table = new TableClient(app.tables.tenantState.url, app.tables.tenantState.tableName, new AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY), { allowInsecureConnection: true });
    table.pipeline.addPolicy({
      name: "countRows",
      async sendRequest(req, next) {
        const res = await next(req);
        if (req.method === "GET" && res.bodyAsText) rowsRead += (res.bodyAsText.match(/"RowKey":/g) ?? []).length;
        return res;
      },
    });
    const slots = new FullReadSlots(table, app.clock, 2, { ...times, askEveryMs: 30_000 });
    const base = clock.now().getTime() - 60_000;
    const run = (i: number) => ({ tenantId: `w${i}`, runId: `${String(100 + i).padStart(13, "0")}-cccccccc`, queuedAt: new Date(base + i * 10).toISOString() });
    for (let i = 0; i < 2; i++) expect((await slots.acquire(run(i))).admitted).toBe(true);
    for (let i = 2; i < 42; i++) expect(await slots.acquire(run(i))).toMatchObject({ admitted: false, position: i - 1 });
    // With 2 slots and 30 s asks, a run 40 or more places back asks again after 10 minutes whatever its place: the line
    // is read only that far, and the position is a lower bound.
    for (let i = 42; i < 50; i++) expect(await slots.acquire(run(i))).toMatchObject({ admitted: false, position: 41, atLeast: true, askAgainMs: 600_000 });
    rowsRead = 0;
    expect(await slots.acquire(run(49))).toMatchObject({ admitted: false, position: 41, atLeast: true });
    expect(rowsRead).toBe(2 + 40);
    // The first in line reads the two slots and its own place; the last, the slots, the 39 places ahead and its own.
    rowsRead = 0;
    expect(await slots.acquire(run(2))).toMatchObject({ admitted: false, position: 1, askAgainMs: 30_000 });
    expect(rowsRead).toBe(2 + 1);
    rowsRead = 0;
    expect(await slots.acquire(run(41))).toMatchObject({ admitted: false, position: 40, askAgainMs: 30_000 * 20 });
    expect(await slots.acquire(run(41))).not.toHaveProperty("atLeast");
    rowsRead = 0;
    await slots.acquire(run(41));
    expect(rowsRead).toBe(2 + 39 + 1);
    // Still first come, first served: a freed slot goes to the first in line, not to the last who asks.
    await slots.release(run(0).runId);
    expect(await slots.acquire(run(41))).toMatchObject({ admitted: false, position: 40 });
    expect(await slots.acquire(run(2))).toMatchObject({ admitted: true });
    for (let i = 1; i < 50; i++) await slots.release(run(i).runId);
  });

  it("never admits more than the limit, however many instances ask at once", async () => {
    const { app } = stackOf();
    clock.advance(3_600_000);
    const asks = Array.from({ length: 24 }, (_, i) => ({ tenantId: `t${i}`, runId: `${String(20 + i).padStart(13, "0")}-bbbbbbbb`, queuedAt: new Date(clock.now().getTime() - 1000 + i).toISOString() }));
    const results = await Promise.all(asks.map((r) => otherInstance(app, 3).acquire(r)));
    const admitted = results.filter((r) => r.admitted);
    expect(admitted.length).toBeGreaterThan(0);
    expect(admitted.length).toBeLessThanOrEqual(3);
    const snap = await otherInstance(app, 3).snapshot();
    expect(snap.inUse.length).toBe(admitted.length);
    expect(new Set(snap.inUse.map((x) => x.runId)).size).toBe(admitted.length);
    // Asking again in turn, the slots end up with the three that queued first.
    for (const r of asks) await otherInstance(app, 3).acquire(r);
    for (const r of asks) await otherInstance(app, 3).acquire(r);
    expect((await otherInstance(app, 3).snapshot()).inUse.length).toBe(3);
  });
});
