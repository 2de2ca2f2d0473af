import { describe, expect, it } from "vitest";
import { scheduleDueRuns } from "../../src/runs/scheduler.js";
import { useLocalStack } from "../support/stack.js";
import { drainQueue, movableClock, registerBareTenants } from "./helpers.js";

const clock = movableClock(Date.parse("2026-03-02T08:00:00Z"));
const stackOf = useLocalStack({ clock: clock.now });

// Azurite serves about 500 operations a second here, so most of the 10,000 tenants are disabled: the scheduler
// still reads every row, and the due ones still cost one lease claim, one report and one message each. Its time
// with 10,000 due tenants is measured by `bench/fleet.ts`, not here.
const TENANTS = 10_000;
const ENABLED = 1_060;

describe("scheduler with 10,000 tenants", () => {
  it("enqueues each due tenant once and nothing twice, even with two ticks at once; skips disabled, quarantined, backed-off and busy tenants", async () => {
    const { app } = stackOf();
    const tenants = await registerBareTenants(app, TENANTS, (i) => (i < ENABLED ? { syncIntervalMinutes: i % 3 === 0 ? 60 : 5 } : { enabled: false }));
    const enabled = tenants.filter((t) => t.enabled);
    const quarantined = enabled.slice(0, 20);
    const backingOff = enabled.slice(20, 40);
    const busy = enabled.slice(40, 60);
    for (const t of quarantined) await app.health.update(t.tenantId, (h) => ({ ...h, quarantined: true, consecutiveFailures: 5 }));
    for (const t of backingOff) await app.health.update(t.tenantId, (h) => ({ ...h, consecutiveFailures: 1, backoffUntil: new Date(clock.now().getTime() + 15 * 60_000).toISOString() }));
    for (const t of busy) expect((await app.leases.claim(t.tenantId, "0000000000000-00000000")).ok).toBe(true);
    const excluded = new Set([...quarantined, ...backingOff, ...busy].map((t) => t.tenantId));
    const due = enabled.filter((t) => !excluded.has(t.tenantId));

    // Two ticks at once (a timer fired on two instances): together they enqueue each due tenant exactly once.
    const [a, b] = await Promise.all([scheduleDueRuns(app, { pruneSlices: 1 }), scheduleDueRuns(app, { pruneSlices: 1 })]);
    expect(a.tenants).toBe(TENANTS);
    expect(a.skipped).toMatchObject({ disabled: TENANTS - ENABLED, quarantined: 20, backoff: 20, error: 0 });
    expect(a.enqueued + b.enqueued).toBe(due.length);
    expect(b.skipped.error).toBe(0);

    const jobs = await drainQueue(app, true);
    expect(jobs).toHaveLength(due.length);
    const ids = jobs.map((j) => j.tenantId);
    expect(new Set(ids)).toEqual(new Set(due.map((t) => t.tenantId)));
    expect(jobs.every((j) => j.continuation === 0)).toBe(true);
    // Every job's run exists, queued, and holds its tenant's lease.
    for (const j of jobs.slice(0, 50)) {
      expect((await app.runs.get(j.tenantId, j.runId))?.status).toBe("queued");
      expect((await app.leases.get(j.tenantId))?.runId).toBe(j.runId);
    }

    // The runs are queued: another tick enqueues nothing.
    const again = await scheduleDueRuns(app, { pruneSlices: 1 });
    expect(again.enqueued).toBe(0);
    expect(again.skipped.active).toBe(due.length + 20);
  }, 120_000);
});
