import { describe, expect, it } from "vitest";
import { FIRST_DUE_SLACK_MS, nextDueAt, scheduleDueRuns } from "../../src/runs/scheduler.js";
import { useLocalStack } from "../support/stack.js";
import { drainQueue, movableClock, registerBareTenants } from "./helpers.js";

const MIN = 60_000;
const T0 = Date.parse("2026-03-02T08:00:00Z");
const clock = movableClock(T0);
const stackOf = useLocalStack({ clock: clock.now });

describe("next due time (the scheduler's decision, pure)", () => {
  it("is one interval after the previous due time, whenever the tick ran", () => {
    const prev = T0 - 20_000;
    expect(nextDueAt(prev, T0 + 9_000, 5 * MIN)).toBe(prev + 5 * MIN);
    expect(nextDueAt(prev, T0, 5 * MIN)).toBe(prev + 5 * MIN);
  });
  it("skips the slots an outage missed, keeping the phase, so the next run is at most one interval away", () => {
    const prev = T0 - 20_000;
    const now = T0 + 3 * 3600_000 + 17_000;
    const next = nextDueAt(prev, now, 5 * MIN);
    expect(next).toBeGreaterThan(now);
    expect(next - now).toBeLessThanOrEqual(5 * MIN);
    expect((next - prev) % (5 * MIN)).toBe(0);
  });
  it("puts a first run's next due time ahead of the tick grid, pulled earlier by the tenant's spread", () => {
    expect(nextDueAt(undefined, T0 + 10_000, 5 * MIN)).toBe(T0 + 10_000 - FIRST_DUE_SLACK_MS + 5 * MIN);
    expect(nextDueAt(undefined, T0, 5 * MIN, 0.1)).toBe(T0 - FIRST_DUE_SLACK_MS + 4.5 * MIN);
    expect(() => nextDueAt(undefined, T0, 0)).toThrow(/interval/);
  });
});

describe("scheduled runs keep their interval when ticks run late", () => {
  it("every tenant runs at every five-minute tick although the ticks are up to 10 s late; after an outage each runs once, then on its phase again", async () => {
    const { app } = stackOf();
    const tenants = await registerBareTenants(app, 40, () => ({ syncIntervalMinutes: 5 }));
    const ids = new Set(tenants.map((t) => t.tenantId));
    /** One tick at `at`; every run it starts ends at once (its lease released). Returns the tenants it enqueued. */
    const tick = async (at: number): Promise<string[]> => {
      clock.set(at);
      const r = await scheduleDueRuns(app, { pruneSlices: 1 });
      expect(r.skipped.error).toBe(0);
      await drainQueue(app);
      for (const j of r.jobs) await app.leases.releaseRun(j.tenantId, j.runId);
      return r.jobs.map((j) => j.tenantId);
    };

    // The first tick 10 s late, the next on time, then late by varying amounts.
    const lateness = [10_000, 0, 9_000, 1_000, 10_000, 0, 4_000];
    for (const [i, late] of lateness.entries()) {
      const ran = await tick(T0 + i * 5 * MIN + late);
      expect(new Set(ran), `tick ${i} (${late / 1000} s late)`).toEqual(ids);
    }

    // Three hours without ticks: one run each, no catch-up burst at the next ticks, then the usual five minutes.
    const back = T0 + 3 * 3600_000 + 7_000;
    expect((await tick(back)).length).toBe(40);
    expect(await tick(back + 20_000)).toEqual([]);
    expect(await tick(back + 60_000)).toEqual([]);
    for (const t of tenants) {
      const next = Date.parse((await app.leases.get(t.tenantId))!.nextRunAt!);
      expect(next).toBeGreaterThan(back);
      expect(next).toBeLessThanOrEqual(back + 5 * MIN);
    }
    expect(new Set(await tick(T0 + 3 * 3600_000 + 5 * MIN + 2_000))).toEqual(ids);
  }, 120_000);
});
