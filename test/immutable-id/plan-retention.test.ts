import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.js";
import { toEntraSyncError } from "../../src/errors.js";
import { getRunPlan, PlanStore } from "../../src/immutable-id/plan.js";
import { requestRun } from "../../src/functions/api.js";
import { scheduleDueRuns } from "../../src/runs/scheduler.js";
import { runWithLease } from "../../src/runs/worker.js";
import type { LocalStack } from "../../dev/stack.js";
import { drainQueue, movableClock } from "../runs/helpers.js";
import { useLocalStack } from "../support/stack.js";
import { tenantWith } from "./helpers.js";

const clock = movableClock();
const stack = useLocalStack({ clock: clock.now, env: { PLAN_RETENTION_DAYS: "2" } });

/** A preview run that takes the tenant's lease like every real run (so the scheduler prunes the tenant's history). */
async function previewRun(s: LocalStack, tenantId: string) {
  clock.advance(60_000); // run ids sort by time: one run per minute
  return runWithLease(s.app, { tenantId, trigger: "manual", mode: "incremental", dryRun: false });
}

/** One more Entra user matched to one more platform user: the next plan differs. */
async function addUser(s: LocalStack, tenantId: string, name: string) {
  const id = randomUUID();
  s.sim.control.addUsers(tenantId, [{ id, userPrincipalName: `${name}@school.onmicrosoft.com` }]);
  await s.app.directory.importUsers(tenantId, [{ id: `p-${name}`, tenantId, externalId: id }]);
}

describe("Immutable ID plans (UPNs and ImmutableIds) are not kept longer than needed", () => {
  it("go with their runs when run history is pruned, unless a remaining run points at them", async () => {
    const s = stack();
    const { tenant } = await tenantWith(s, { n: 3, immutableId: { mode: "preview" } });
    const id = tenant.tenantId;
    await s.app.tenants.update(id, { enabled: false }); // no scheduled runs: the test starts each one
    const plans = new PlanStore(s.app.tables.runPlans);
    const r1 = await previewRun(s, id);
    await addUser(s, id, "late1");
    const r2 = await previewRun(s, id);
    const r3 = await previewRun(s, id); // the same plan as r2: points at r2's rows
    expect([r1, r2, r3].map((r) => r.immutableId?.plan?.runId)).toEqual([r1.runId, r2.runId, r2.runId]);

    await scheduleDueRuns(s.app, { pruneSlices: 1, keepRuns: 1 });
    expect((await s.app.runs.list(id, 10)).map((r) => r.runId)).toEqual([r3.runId]);
    expect(await plans.exists(id, r1.runId)).toBe(false);
    expect(await plans.exists(id, r2.runId)).toBe(true); // r3 still points at it
    expect(await getRunPlan(s.app, id, r3.runId)).toHaveLength(4);

    await addUser(s, id, "late2");
    const r4 = await previewRun(s, id);
    await scheduleDueRuns(s.app, { pruneSlices: 1, keepRuns: 1 });
    expect(await plans.exists(id, r2.runId)).toBe(false);
    expect(await getRunPlan(s.app, id, r4.runId)).toHaveLength(5);
  });

  it("are deleted after PLAN_RETENTION_DAYS, though their runs are kept; a forced run cannot name them then", async () => {
    const s = stack();
    const { tenant } = await tenantWith(s, { n: 3, immutableId: { mode: "preview" } });
    const id = tenant.tenantId;
    await s.app.tenants.update(id, { enabled: false });
    const old = await previewRun(s, id);
    clock.advance(3 * 86_400_000);
    await addUser(s, id, "late");
    const recent = await previewRun(s, id);
    await scheduleDueRuns(s.app, { pruneSlices: 1 });

    expect(await s.app.runs.get(id, old.runId)).toBeDefined();
    expect(toEntraSyncError(await getRunPlan(s.app, id, old.runId).catch((e: unknown) => e)).code).toBe("PLAN_NOT_FOUND");
    expect(await getRunPlan(s.app, id, recent.runId)).toHaveLength(4);

    await s.app.tenants.update(id, { enabled: true, immutableId: { ...tenant.immutableId, mode: "on" } });
    const refused = await requestRun(s.app, id, JSON.stringify({ forcePlan: old.runId }));
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: "INPUT_INVALID", field: "forcePlan", message: expect.stringMatching(/was deleted/) } });
    expect(await drainQueue(s.app)).toEqual([]);
  });

  it("PLAN_RETENTION_DAYS must be a whole number of days from 1 to 365", () => {
    const env = stack().env;
    expect(loadSettings(env).planRetentionDays).toBe(2);
    expect(loadSettings({ ...env, PLAN_RETENTION_DAYS: undefined }).planRetentionDays).toBe(30);
    for (const bad of ["0", "366", "1.5", "thirty"]) expect(() => loadSettings({ ...env, PLAN_RETENTION_DAYS: bad })).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
  });
});
