import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { toEntraSyncError } from "../../src/errors.js";
import { getRunPlan, PlanStore } from "../../src/immutable-id/plan.js";
import { requestRun } from "../../src/functions/api.js";
import { startRun } from "../../src/runs/start.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { executeRun } from "../../src/runs/execute.js";
import { drainQueue } from "../runs/helpers.js";
import { useLocalStack } from "../support/stack.js";
import { b64, patchesPerUser, run, tenantWith } from "./helpers.js";

const stack = useLocalStack();

const cliIO = () => {
  const lines: string[] = [];
  const io: CliIO = { out: (t) => lines.push(t), err: (t) => lines.push(t), readStdin: async () => "", isTTY: false };
  return { io, lines };
};

describe("a forced Immutable ID run writes the plan that was reviewed", () => {
  it("refuses force without a plan (API and CLI), and a plan that cannot be written", async () => {
    const s = stack();
    const { tenant } = await tenantWith(s, { n: 4, immutableId: { maxWritesPerRun: 2 } });
    const id = tenant.tenantId;
    const bare = await requestRun(s.app, id, JSON.stringify({ force: true }));
    expect(bare.status).toBe(400);
    expect(bare.body).toMatchObject({ error: { code: "INPUT_INVALID", field: "force" } });

    const cli = cliIO();
    expect(await runCli(["run", "--tenant", id, "--force"], cli.io, () => s.app)).toBe(2);
    expect(cli.lines.join("\n")).toMatch(/^error INPUT_INVALID: .*--force-plan <runId>/m);

    const unknown = await requestRun(s.app, id, JSON.stringify({ forcePlan: "8000000000000-00000000" }));
    expect(unknown.body).toMatchObject({ error: { code: "INPUT_INVALID", field: "forcePlan" } });
    const malformed = await requestRun(s.app, id, JSON.stringify({ forcePlan: "latest" }));
    expect(malformed.body).toMatchObject({ error: { code: "INPUT_INVALID", field: "forcePlan" } });

    const update = await run(s, id, { only: ["update"] }); // planned nothing
    const nothing = await requestRun(s.app, id, JSON.stringify({ forcePlan: update.runId }));
    expect(nothing.body).toMatchObject({ error: { code: "INPUT_INVALID", field: "forcePlan" } });

    const capped = await run(s, id, { only: ["immutableId"] });
    expect(capped.immutableId?.capExceeded?.planned).toBe(4);
    for (const body of [{ forcePlan: capped.runId, dryRun: true }, { forcePlan: capped.runId, only: ["update"] }]) {
      const a = await requestRun(s.app, id, JSON.stringify(body));
      expect(a.status).toBe(400);
      expect(a.body).toMatchObject({ error: { code: "INPUT_INVALID", field: "forcePlan" } });
    }
    expect(await drainQueue(s.app)).toEqual([]); // none of these queued a run
    expect(s.sim.control.stats().writes).toBe(0);
  });

  it("API forcePlan: writes the reviewed plan over the cap, once", async () => {
    const s = stack();
    const { tenant, users } = await tenantWith(s, { n: 6, immutableId: { maxWritesPerRun: 2 } });
    const capped = await run(s, tenant.tenantId);
    expect(capped.errors.map((e) => e.code)).toContain("IMMUTABLE_ID_CAP_EXCEEDED");
    const a = await requestRun(s.app, tenant.tenantId, JSON.stringify({ only: ["immutableId"], forcePlan: capped.runId }));
    expect(a.status).toBe(202);
    const jobs = (await drainQueue(s.app)).filter((j) => j.tenantId === tenant.tenantId);
    expect(jobs).toHaveLength(1);
    await processSyncJob(s.app, jobs[0]!);
    const report = (await s.app.runs.get(tenant.tenantId, (a.body as { runId: string }).runId))!;
    expect(report.forcePlan).toBe(capped.runId);
    expect(report.status).toBe("succeeded");
    expect(report.immutableId?.written).toBe(6);
    const patches = patchesPerUser(s, tenant.tenantId);
    for (const u of users) expect(patches.get(u.id)).toBe(1);
    for (const [i, u] of users.entries()) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBe(b64(`p-${i}`));
  });

  it("refuses a plan that grew since the review, naming the users added; their run's plan can be forced then", async () => {
    const s = stack();
    const { tenant, users } = await tenantWith(s, { n: 6, immutableId: { maxWritesPerRun: 2 } });
    const reviewed = await run(s, tenant.tenantId);
    expect(reviewed.immutableId?.planned).toBe(6);
    // Two new users arrive in Entra and on the platform after the review.
    const added = [randomUUID(), randomUUID()];
    s.sim.control.addUsers(tenant.tenantId, added.map((id, i) => ({ id, userPrincipalName: `late${i}@school.onmicrosoft.com` })));
    await s.app.directory.importUsers(tenant.tenantId, added.map((id, i) => ({ id: `late-${i}`, tenantId: tenant.tenantId, externalId: id })));
    s.sim.control.resetStats();

    const refused = await run(s, tenant.tenantId, { forcePlan: reviewed.runId });
    expect(s.sim.control.stats().writes).toBe(0);
    const err = refused.errors.find((e) => e.code === "IMMUTABLE_ID_PLAN_CHANGED");
    expect(err?.message).toMatch(/2 user\(s\) added \(8 entries now, 6 reviewed, 0 of those no longer hold\)/);
    expect([...(err?.users ?? [])].sort()).toEqual([...added].sort());
    for (const u of users) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBeNull();

    const forced = await run(s, tenant.tenantId, { only: ["immutableId"], forcePlan: refused.runId });
    expect(forced.immutableId?.written).toBe(8);
    for (const id of added) expect(s.sim.control.getUser(tenant.tenantId, id)?.onPremisesImmutableId).toMatch(/^bGF0ZS0/);
  });

  it("writes only the reviewed entries that still hold", async () => {
    const s = stack();
    // source userName: update sync maps it from the UPN, so a UPN change in Entra changes the planned value
    const { tenant, users } = await tenantWith(s, { n: 6, immutableId: { maxWritesPerRun: 2, source: "userName" } });
    const reviewed = await run(s, tenant.tenantId);
    expect(reviewed.immutableId?.planned).toBe(6);
    const [gained, renamed, ...rest] = users;
    s.sim.control.updateUser(tenant.tenantId, gained!.id, { onPremisesImmutableId: "c2V0LWJ5LWhhbmQ=" });
    s.sim.control.updateUser(tenant.tenantId, renamed!.id, { userPrincipalName: "renamed@school.onmicrosoft.com" });
    s.sim.control.resetStats();

    const forced = await run(s, tenant.tenantId, { forcePlan: reviewed.runId }); // update sync sees both changes first
    expect(forced.immutableId?.written).toBe(4);
    expect(forced.errors.map((e) => e.code)).not.toContain("IMMUTABLE_ID_PLAN_CHANGED");
    expect(forced.notices.join(" ")).toMatch(new RegExp(`2 of its 6 entries no longer hold.*1 of them are planned with a new value.*${renamed!.id}`));
    for (const u of rest) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBe(b64(u.userPrincipalName));
    expect(s.sim.control.getUser(tenant.tenantId, gained!.id)?.onPremisesImmutableId).toBe("c2V0LWJ5LWhhbmQ=");
    expect(s.sim.control.getUser(tenant.tenantId, renamed!.id)?.onPremisesImmutableId).toBeNull();
    const patches = patchesPerUser(s, tenant.tenantId, false);
    expect(patches.get(gained!.id)).toBeUndefined();
    expect(patches.get(renamed!.id)).toBeUndefined();
  });

  it("CLI --force-plan: the run names the plan it wrote", async () => {
    const s = stack();
    const { tenant } = await tenantWith(s, { n: 3, immutableId: { maxWritesPerRun: 1 } });
    const reviewed = await run(s, tenant.tenantId);
    const plan = cliIO();
    expect(await runCli(["plan", "--tenant", tenant.tenantId, "--run", reviewed.runId], plan.io, () => s.app)).toBe(0);
    expect(plan.lines.join("\n")).toContain(`--force-plan ${reviewed.runId}`);
    const cli = cliIO();
    expect(await runCli(["run", "--tenant", tenant.tenantId, "--only", "immutable-id", "--force-plan", reviewed.runId, "--json"], cli.io, () => s.app)).toBe(0);
    const report = JSON.parse(cli.lines.at(-1)!) as { forcePlan?: string; immutableId?: { written: number } };
    expect(report.forcePlan).toBe(reviewed.runId);
    expect(report.immutableId?.written).toBe(3);
  });

  it("a forced run whose reviewed plan is gone by the time it runs writes nothing", async () => {
    const s = stack();
    const { tenant } = await tenantWith(s, { n: 3, immutableId: { maxWritesPerRun: 1 } });
    const reviewed = await run(s, tenant.tenantId);
    const { report } = await startRun(s.app, { tenantId: tenant.tenantId, trigger: "manual", mode: "incremental", dryRun: false, only: ["immutableId"], forcePlan: reviewed.runId });
    await s.app.leases.releaseRun(tenant.tenantId, report.runId);
    await new PlanStore(s.app.tables.runPlans).delete(tenant.tenantId, reviewed.runId);
    s.sim.control.resetStats();
    const done = (await executeRun(s.app, tenant.tenantId, report.runId)).report;
    expect(done.errors.map((e) => e.code)).toContain("PLAN_NOT_FOUND");
    expect(done.immutableId?.written).toBe(0);
    expect(s.sim.control.stats().writes).toBe(0);
    expect(toEntraSyncError(await getRunPlan(s.app, tenant.tenantId, reviewed.runId).catch((e: unknown) => e)).code).toBe("PLAN_NOT_FOUND");
  });
});
