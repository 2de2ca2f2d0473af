import { describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.js";
import { EntraSyncError } from "../../src/errors.js";
import { requestRun } from "../../src/functions/api.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { newGraphCounters } from "../../src/graph/client.js";
import { SharedWriteBudget } from "../../src/graph/write-budget.js";
import { chunk } from "../../src/util/concurrency.js";
import { drainQueue } from "../runs/helpers.js";
import { useLocalStack } from "../support/stack.js";
import { b64, tenantWith } from "./helpers.js";

/**
 * Graph's write limit scaled down 10 times (300 writes per 15 s: the same 20 writes/s), so that a test spends more
 * than a window's burst in seconds. The stack hands the app the simulator's numbers (GRAPH_WRITE_LIMIT,
 * GRAPH_WRITE_WINDOW_SECONDS).
 */
const stack = useLocalStack({ simulator: { throttle: { windowScale: 0.1 }, latencyMs: 0 } });

const throttledPatches = (tenantId: string) =>
  stack()
    .sim.control.requestLog()
    .filter((e) => e.tenantId === tenantId && e.method === "PATCH" && e.status === 429).length;

describe("the write budget is one per app and tenant, shared by every invocation", () => {
  it("takes the simulator's write limit from the stack's settings", () => {
    const s = stack();
    expect(s.settings.graphWriteLimit).toEqual(s.sim.control.writeLimit());
    expect(s.settings.graphWriteLimit.windowSeconds).toBeLessThan(150);
  });

  it("GRAPH_WRITE_LIMIT and GRAPH_WRITE_WINDOW_SECONDS default to Graph's numbers and refuse nonsense by name", () => {
    const base = { AzureWebJobsStorage: "UseDevelopmentStorage=true", KEY_VAULT_URL: "https://v.vault.azure.net/" };
    expect(loadSettings(base).graphWriteLimit).toEqual({ writes: 3000, windowSeconds: 150 });
    for (const [name, value] of [["GRAPH_WRITE_LIMIT", "0"], ["GRAPH_WRITE_LIMIT", "lots"], ["GRAPH_WRITE_WINDOW_SECONDS", "-1"]] as const) {
      let caught: unknown;
      try {
        loadSettings({ ...base, [name]: value });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(EntraSyncError);
      expect((caught as EntraSyncError).code).toBe("CONFIG_INVALID");
      expect((caught as EntraSyncError).message).toContain(name);
    }
  });

  it("a run split over many short invocations writes every ImmutableId with no write throttled", async () => {
    const s = stack();
    const n = 600;
    const { tenant, platformUsers, users } = await tenantWith(s, { n });
    const started = await requestRun(s.app, tenant.tenantId, "{}");
    expect(started.status).toBe(202);
    let invocations = 0;
    let last;
    for (;;) {
      const jobs = await drainQueue(s.app);
      if (jobs.length === 0) break;
      last = await processSyncJob(s.app, jobs[0]!, { budgetMs: 1_000 });
      invocations++;
    }
    expect(last?.outcome).toBe("completed");
    const report = last && "report" in last ? last.report : undefined;
    expect(report?.status).toBe("succeeded");
    expect(report?.immutableId?.written).toBe(n);
    expect(report?.progress.invocations).toBe(invocations);
    expect(invocations).toBeGreaterThan(3);
    expect(throttledPatches(tenant.tenantId)).toBe(0);
    for (const [i, u] of users.entries()) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBe(b64(platformUsers[i]!.id));
  }, 240_000); // 600 paced writes, many invocations, each re-planning: generous on a loaded 2-core machine

  it("an invocation whose budget is gone before it writes still writes its first groups: a continuation always gets further", async () => {
    const s = stack();
    const n = 200;
    const { tenant } = await tenantWith(s, { n });
    expect((await requestRun(s.app, tenant.tenantId, "{}")).status).toBe(202);
    const written: number[] = [];
    let last;
    for (let i = 0; i < 40; i++) {
      const jobs = await drainQueue(s.app);
      if (jobs.length === 0) break;
      last = await processSyncJob(s.app, jobs[0]!, { budgetMs: 1 }); // past the deadline before the plan is made
      written.push(("report" in last ? last.report.immutableId?.written : undefined) ?? 0);
    }
    expect(last && "report" in last ? last.report.status : undefined).toBe("succeeded");
    expect(written.at(-1)).toBe(n);
    // Every invocation that got to the Immutable ID step wrote something (it never loops without progress).
    for (let i = 1; i < written.length; i++) expect(written[i]!).toBeGreaterThan(written[i - 1]!);
  }, 240_000);

  it("two processes writing to one tenant at once share the budget: no write throttled", async () => {
    const s = stack();
    const n = 500;
    const { tenant, users } = await tenantWith(s, { n });
    const secret = await s.app.secrets.get(tenant.tenantId);
    const limit = s.settings.graphWriteLimit;
    // Two processes: each its own Graph client and its own budget object over the same table row.
    const writer = async (part: typeof users, tag: string) => {
      const counters = newGraphCounters();
      const { graph } = s.app.graphFor(tenant, secret, counters);
      const budget = new SharedWriteBudget(s.app.tables.tenantState, tenant.tenantId, tenant.clientId, { writes: limit.writes, windowMs: limit.windowSeconds * 1000 });
      let ok = 0;
      for (const group of chunk(part, 20)) {
        const answers = await graph.patchUsers(
          group.map((u) => ({ key: u.id, userId: u.id, changes: { onPremisesImmutableId: b64(`${tag}-${u.id}`) } })),
          { pacer: budget, verifyLost: false },
        );
        ok += [...answers.values()].filter((a) => a.status === 204).length;
      }
      return { ok, counters, roundTrips: budget.roundTrips };
    };
    const [a, b] = await Promise.all([writer(users.slice(0, n / 2), "a"), writer(users.slice(n / 2), "b")]);
    expect(a.ok + b.ok).toBe(n);
    expect(a.counters.throttled + b.counters.throttled).toBe(0);
    expect(throttledPatches(tenant.tenantId)).toBe(0);
    // Reserved in chunks: far fewer table round trips than writes.
    expect(a.roundTrips + b.roundTrips).toBeLessThan(n);
  }, 60_000);
});
