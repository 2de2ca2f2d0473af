import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import azureFunctions from "@azure/functions";
import { provideApp } from "../../src/functions/app.js";
import { syncWorkerHandler } from "../../src/functions/syncWorker.js";
import { requestRun } from "../../src/functions/api.js";
import { processSyncJob } from "../../src/runs/worker.js";
import type { RunReport } from "../../src/runs/report.js";
import type { App } from "../../src/composition.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { drainQueue } from "./helpers.js";

const { InvocationContext } = azureFunctions;
const stackOf = useLocalStack({ simulator: { pageSize: 250, latencyMs: 0 } });
const N = 5_000;

/**
 * Twin tenants: the same users under other ids. Every fifth Entra user has a platform user (importing 5,000
 * platform users would cost more than the runs themselves), half of which differ from Entra in their city.
 */
function twins() {
  const a = simpleDirectory(N);
  a.platformUsers = a.platformUsers.filter((_, i) => i % 5 === 0);
  a.platformUsers.forEach((p, i) => (p.city = i % 2 ? "Malmö" : "Lund"));
  const idMap = new Map(a.users.map((u) => [u.id, randomUUID()]));
  const b = {
    users: a.users.map((u) => ({ ...u, id: idMap.get(u.id)! })),
    platformUsers: a.platformUsers.map((p) => ({ ...p, externalId: idMap.get(p.externalId!)! })),
  };
  return { a, b, idMap };
}

async function directoryState(app: App, tenantId: string, idMap?: Map<string, string>) {
  const out: Record<string, unknown> = {};
  for await (const u of app.directory.list(tenantId)) {
    const { tenantId: _t, ...rest } = u as unknown as Record<string, unknown>;
    const ext = rest.externalId as string | undefined;
    out[String(rest.id)] = { ...rest, externalId: ext && idMap ? idMap.get(ext) : ext, updatedAt: undefined, version: undefined, etag: undefined };
  }
  return out;
}

const counts = (r: RunReport) => ({ status: r.status, update: r.update, notices: r.notices, errors: r.errors.length });

describe("resumable long runs", () => {
  it("a tiny time budget over 5,000 users finishes across many invocations as one run with the same result as an uninterrupted run", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const { a, b, idMap } = twins();
    const [ta, tb] = await Promise.all([
      onboard(stack, { users: a.users, platformUsers: a.platformUsers, registration: { immutableId: { mode: "off", source: "id", encoding: "base64", maxWritesPerRun: 0, maxPercentPerRun: 0, federatedDomains: "skip" } } }),
      onboard(stack, { users: b.users, platformUsers: b.platformUsers, registration: { immutableId: { mode: "off", source: "id", encoding: "base64", maxWritesPerRun: 0, maxPercentPerRun: 0, federatedDomains: "skip" } } }),
    ]);

    // Uninterrupted: one invocation with the default budget.
    const started = await requestRun(stack.app, tb.tenant.tenantId, "{}");
    expect(started.status).toBe(202);
    const [jobB] = await drainQueue(stack.app);
    await syncWorkerHandler(jobB, new InvocationContext({ functionName: "syncWorker", logHandler: () => {} }));
    const whole = (await stack.app.runs.list(tb.tenant.tenantId))[0]!;
    expect(whole.status).toBe("succeeded");
    expect(whole.progress.invocations).toBe(1);

    // Interrupted: the worker stops after every page and enqueues a continuation.
    const startedA = await requestRun(stack.app, ta.tenant.tenantId, "{}");
    const runId = (startedA.body as { runId: string }).runId;
    let invocations = 0;
    for (;;) {
      const jobs = await drainQueue(stack.app);
      if (jobs.length === 0) break;
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ runId, continuation: invocations });
      const r = await processSyncJob(stack.app, jobs[0]!, { budgetMs: 1 });
      invocations++;
      expect(r.outcome).toBe(invocations < N / 250 ? "continued" : "completed");
      if (r.outcome === "continued") {
        // Live while it works: the stored report shows the pages so far.
        const live = await stack.app.runs.get(ta.tenant.tenantId, runId);
        expect(live?.status).toBe("running");
        expect(live?.progress.pages).toBe(invocations);
      }
    }
    expect(invocations).toBe(N / 250);
    const runs = await stack.app.runs.list(ta.tenant.tenantId);
    expect(runs).toHaveLength(1);
    const pieced = runs[0]!;
    expect(pieced.runId).toBe(runId);
    expect(pieced.progress.invocations).toBe(invocations);
    expect(counts(pieced)).toEqual(counts(whole));
    expect(pieced.update.read).toBe(N);
    expect(pieced.update.matched).toBe(N / 5);
    expect(pieced.update.unmatched).toBe(N - N / 5);
    expect(await directoryState(stack.app, ta.tenant.tenantId, idMap)).toEqual(await directoryState(stack.app, tb.tenant.tenantId));
    expect((await stack.app.leases.get(ta.tenant.tenantId))?.released).toBe(true);
  }, 120_000);
});
