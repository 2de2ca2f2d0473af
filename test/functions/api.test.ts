import fc from "fast-check";
import { describe, expect, it } from "vitest";
import azureFunctions from "@azure/functions";
import { provideApp } from "../../src/functions/app.js";
import { getRunHandler } from "../../src/functions/getRun.js";
import { getRunPlanHandler } from "../../src/functions/getRunPlan.js";
import { healthHandler } from "../../src/functions/health.js";
import { listRunsHandler } from "../../src/functions/listRuns.js";
import { listTenantsHandler } from "../../src/functions/listTenants.js";
import { startRunHandler } from "../../src/functions/startRun.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { drainQueue, movableClock } from "../runs/helpers.js";
import { scheduleDueRuns } from "../../src/runs/scheduler.js";

const { HttpRequest, InvocationContext } = azureFunctions;
const clock = movableClock();
const stackOf = useLocalStack({ clock: clock.now });
const ctx = () => new InvocationContext({ functionName: "test", logHandler: () => {} }); // the handlers log every 4xx: keep the test output readable
const UNKNOWN = "0b5d2c1e-1111-4222-8333-944444444444";

const req = (method: string, path: string, params: Record<string, string>, body?: string, headers: Record<string, string> = {}) =>
  new HttpRequest({ method, url: `http://localhost/api/${path}`, params, headers, ...(body === undefined ? {} : { body: { string: body } }) });
const post = (tenantId: string, body?: string) => startRunHandler(req("POST", `tenants/${encodeURIComponent(tenantId)}/runs`, { tenantId }, body), ctx());
const getRun = (tenantId: string, runId: string) => getRunHandler(req("GET", `tenants/x/runs/x`, { tenantId, runId }), ctx());
const listRuns = (tenantId: string, limit?: string) => listRunsHandler(req("GET", `tenants/x/runs${limit === undefined ? "" : `?limit=${encodeURIComponent(limit)}`}`, { tenantId }), ctx());
const errorOf = (r: { jsonBody?: unknown }) => (r.jsonBody as { error: { code: string; message: string; field?: string } }).error;

describe("the run API", () => {
  it("POST queues a run: 202 with Location; then GET shows it live and listed; 400/404/409 as documented", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const { users, platformUsers } = simpleDirectory(3);
    const { tenant } = await onboard(stack, { users, platformUsers });
    const id = tenant.tenantId;

    const ok = await post(id, JSON.stringify({ mode: "full", dryRun: true, only: ["update"], force: false }));
    expect(ok.status).toBe(202);
    const { runId, status } = ok.jsonBody as { runId: string; status: string };
    expect(status).toBe("queued");
    expect((ok.headers as Record<string, string>).Location).toBe(`/api/tenants/${id}/runs/${runId}`);

    const queued = await getRun(id, runId);
    expect(queued.status).toBe(200);
    expect(queued.jsonBody).toMatchObject({ runId, status: "queued", mode: "full", dryRun: true, only: ["update"], trigger: "manual" });

    const busy = await post(id, "");
    expect(busy.status).toBe(409);
    expect(errorOf(busy).code).toBe("RUN_IN_PROGRESS");
    expect((busy.jsonBody as { activeRunId: string }).activeRunId).toBe(runId);
    expect((busy.headers as Record<string, string>).Location).toContain(runId);

    const [job] = await drainQueue(stack.app);
    await processSyncJob(stack.app, job!);
    const done = await getRun(id, runId);
    expect(done.jsonBody).toMatchObject({ status: "succeeded", update: { read: 3 }, progress: { invocations: 1 } });

    clock.advance(1000);
    expect((await post(id)).status).toBe(202); // empty body: all defaults
    const [job2] = await drainQueue(stack.app);
    await processSyncJob(stack.app, job2!);
    const list = await listRuns(id, "1");
    expect(list.status).toBe(200);
    expect((list.jsonBody as { runs: Array<{ runId: string }> }).runs).toHaveLength(1);
    expect((list.jsonBody as { runs: Array<{ runId: string; mode: string }> }).runs[0]!.mode).toBe("incremental");
    expect(((await listRuns(id)).jsonBody as { runs: unknown[] }).runs).toHaveLength(2);

    // Bad input: each kind names its field.
    const bad: Array<[string | undefined, string]> = [
      ["{", "body"],
      ["[]", "body"],
      ["null", "body"],
      ['"full"', "body"],
      ['{"mode":"partial"}', "mode"],
      ['{"dryRun":"yes"}', "dryRun"],
      ['{"only":[]}', "only"],
      ['{"only":["update","update"]}', "only"],
      ['{"only":["immutable-id"]}', "only"],
      ['{"force":1}', "force"],
      ['{"tenant":"x"}', "tenant"],
      ["x".repeat(20_000), "body"],
    ];
    for (const [body, field] of bad) {
      const r = await post(id, body);
      expect(r.status, body).toBe(400);
      expect(errorOf(r)).toMatchObject({ code: "INPUT_INVALID", field });
    }
    expect(errorOf(await post("not-a-guid", "{}"))).toMatchObject({ code: "INPUT_INVALID", field: "tenantId" });
    const unknown = await post(UNKNOWN, "{}");
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown)).toMatchObject({ code: "TENANT_NOT_FOUND", field: "tenantId" });

    expect((await getRun(id, "8000000000000-00000000")).status).toBe(404);
    expect(errorOf(await getRun(id, "8000000000000-00000000")).code).toBe("RUN_NOT_FOUND");
    expect(errorOf(await getRun(UNKNOWN, runId)).code).toBe("TENANT_NOT_FOUND");
    expect(await getRun(id, "../../etc")).toMatchObject({ status: 400 });
    expect(errorOf(await getRun(id, "../../etc")).field).toBe("runId");
    for (const limit of ["0", "101", "-1", "abc", "1.5", "9999"]) {
      const r = await listRuns(id, limit);
      expect(r.status, limit).toBe(400);
      expect(errorOf(r).field).toBe("limit");
    }
    expect((await listRuns(UNKNOWN)).status).toBe(404);

    // The plan route: JSON, CSV, a run without an Immutable ID step, unknown run, bad format.
    const noStep = await getRunPlanHandler(req("GET", "x", { tenantId: id, runId }), ctx()); // --only update
    expect(noStep.status).toBe(404);
    expect(errorOf(noStep).code).toBe("PLAN_NOT_FOUND");
    const planned = (list.jsonBody as { runs: Array<{ runId: string }> }).runs[0]!.runId;
    const plan = await getRunPlanHandler(req("GET", "x", { tenantId: id, runId: planned }), ctx());
    expect(plan.status).toBe(200);
    expect(plan.jsonBody).toMatchObject({ tenantId: id, runId: planned });
    expect((plan.jsonBody as { entries: unknown[] }).entries).toHaveLength(3);
    const csv = await getRunPlanHandler(req("GET", "x?format=csv", { tenantId: id, runId: planned }), ctx());
    expect(csv.status).toBe(200);
    expect(String(csv.body)).toMatch(/^entraId,userPrincipalName/);
    expect((await getRunPlanHandler(req("GET", "x", { tenantId: id, runId: "8000000000000-00000000" }), ctx())).status).toBe(404);
    expect((await getRunPlanHandler(req("GET", "x?format=xml", { tenantId: id, runId }), ctx())).status).toBe(400);
    expect((await getRunPlanHandler(req("GET", "x", { tenantId: UNKNOWN, runId }), ctx())).status).toBe(404);
  });

  it("GET /api/tenants lists every tenant with health and secret expiry; GET /api/health answers without the app", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const { tenant } = await onboard(stack, { users: simpleDirectory(1).users });
    const noon = new Date(clock.now());
    noon.setUTCHours(12, 0, 0, 0);
    const expiresOn = new Date(noon.getTime() + 10 * 86_400_000).toISOString(); // 10 UTC calendar days ahead

    await stack.app.secretFacts.update(tenant.tenantId, () => ({ expiresOn, source: "keyVault", version: "v1", checkedAt: clock.now().toISOString() }));
    const r = await listTenantsHandler(req("GET", "tenants", {}), ctx());
    expect(r.status).toBe(200);
    const mine = (r.jsonBody as { tenants: Array<Record<string, unknown>> }).tenants.find((t) => t.tenantId === tenant.tenantId);
    expect(mine).toMatchObject({ displayName: tenant.displayName, enabled: true, quarantined: false, consecutiveFailures: 0, activeRun: null, secret: { expiresOn, daysLeft: 10, source: "keyVault", mismatch: false } });
    expect(typeof mine!.nextRunAt).toBe("string");

    provideApp(undefined);
    const h = await healthHandler(req("GET", "health", {}), ctx());
    expect(h.status).toBe(200);
    expect(h.jsonBody).toEqual({ status: "ok", name: "entra-sync", version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    provideApp(stack.app);
  });

  it("prunes run history by count and by age", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const { tenant } = await onboard(stack, { users: simpleDirectory(1).users, registration: { syncIntervalMinutes: 1 } });
    for (let i = 0; i < 6; i++) {
      clock.advance(2 * 60_000);
      const tick = await scheduleDueRuns(stack.app, { pruneSlices: 1, keepRuns: 4, keepDays: 30 });
      expect(tick.jobs.some((j) => j.tenantId === tenant.tenantId)).toBe(true);
      for (const job of await drainQueue(stack.app)) await processSyncJob(stack.app, job);
    }
    expect(await stack.app.runs.list(tenant.tenantId, 100)).toHaveLength(4); // the newest 4, counting the run the tick queued
    clock.advance(31 * 86_400_000);
    await scheduleDueRuns(stack.app, { pruneSlices: 1, keepRuns: 4, keepDays: 30 });
    const left = await stack.app.runs.list(tenant.tenantId, 100);
    expect(left.map((r) => r.status)).toEqual(["queued"]);
    await drainQueue(stack.app);
  });

  it("a fuzzed corpus of bodies and ids never yields a 5xx", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const { tenant } = await onboard(stack, { users: simpleDirectory(1).users });
    const idArb = fc.oneof(fc.constant(tenant.tenantId), fc.constant(UNKNOWN), fc.string(), fc.uuid(), fc.constantFrom("", "'", "%00", "../..", "00000000-0000-0000-0000-000000000000"));
    const runIdArb = fc.oneof(fc.string(), fc.constant("8000000000000-00000000"), fc.stringMatching(/^[0-9]{13}-[0-9a-f]{8}$/));
    const bodyArb = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ mode: fc.oneof(fc.constantFrom("incremental", "full"), fc.string(), fc.integer()), dryRun: fc.oneof(fc.boolean(), fc.string()), only: fc.oneof(fc.array(fc.constantFrom("update", "immutableId", "x")), fc.string()), force: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(idArb, runIdArb, bodyArb, fc.option(fc.string(), { nil: undefined }), async (id, runId, body, limit) => {
        const answers = [await post(id, body), await getRun(id, runId), await listRuns(id, limit), await getRunPlanHandler(req("GET", "x", { tenantId: id, runId }), ctx())];
        for (const a of answers) {
          expect(a.status ?? 200).toBeLessThan(500);
          if ((a.status ?? 200) >= 400) expect(errorOf(a).code).toMatch(/^[A-Z_]+$/);
        }
        // Free the tenant again when a run got queued.
        for (const j of await drainQueue(stack.app)) await stack.app.leases.releaseRun(j.tenantId, j.runId);
      }),
      { numRuns: 150 },
    );
  });
});
