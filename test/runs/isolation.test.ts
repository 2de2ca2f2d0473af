import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import type { App } from "../../src/composition.js";
import { BACKOFF_MINUTES, QUARANTINE_AFTER } from "../../src/runs/health.js";
import { listTenants, requestRun } from "../../src/functions/api.js";
import { scheduleDueRuns } from "../../src/runs/scheduler.js";
import type { TenantStatus } from "../../src/runs/status.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { setTenantSecret } from "../../src/tenants/onboarding.js";
import type { Tenant } from "../../src/tenants/model.js";
import { mapLimit } from "../../src/util/concurrency.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { drainQueue, movableClock } from "./helpers.js";

const clock = movableClock(Date.parse("2026-03-02T08:00:00Z"));
// As many full reads at once as the cycle works jobs in parallel (16): admission control is tested on its own
// (test/runs/admission.test.ts); here every first sync must run in its cycle.
const stackOf = useLocalStack({ clock: clock.now, simulator: { latencyMs: 0 }, env: { MAX_CONCURRENT_FULL_READS: "16" } });
// The healthy tenants run daily, so that the cycles in between (15 min, 1 h, 6 h later) run only the failing ten;
// the first and the last cycle run all 200 at once. (Each run costs ~50 ms of CPU here, mostly TLS and MSAL.)
const DAY = 24 * 60;
const OFF = { mode: "off", source: "id", encoding: "base64", maxWritesPerRun: 0, maxPercentPerRun: 0, federatedDomains: "skip" };

/** One scheduler cycle: a tick, then every job it enqueued worked off. Returns the tenants whose runs succeeded or failed. */
async function cycle(app: App): Promise<{ enqueued: number; succeeded: Set<string>; failed: Map<string, string> }> {
  const tick = await scheduleDueRuns(app);
  const jobs = await drainQueue(app);
  expect(jobs).toHaveLength(tick.enqueued);
  const succeeded = new Set<string>();
  const failed = new Map<string, string>();
  await mapLimit(jobs, 16, async (job) => {
    const r = await processSyncJob(app, job);
    if (r.outcome !== "completed") throw new Error(`job ${job.tenantId} ${r.outcome}`);
    if (r.report.status === "succeeded") succeeded.add(job.tenantId);
    else failed.set(job.tenantId, r.report.failure?.code ?? r.report.status);
  });
  return { enqueued: tick.enqueued, succeeded, failed };
}

describe("one tenant's failure never holds up another", () => {
  it("200 tenants, 10 failing (bad secret, throttling storm, 5xx): the 190 finish every cycle; the 10 back off, then are quarantined", async () => {
    const stack = stackOf();
    const { app, sim } = stack;
    const tenants: Tenant[] = [];
    const t0 = Date.now();
    await mapLimit(Array.from({ length: 200 }, (_, i) => i), 8, async (i) => {
      const { users, platformUsers } = simpleDirectory(3);
      const { tenant } = await onboard(stack, { displayName: `School ${i}`, users, platformUsers, registration: { immutableId: OFF, syncIntervalMinutes: i < 10 ? 5 : DAY } });
      tenants[i] = tenant;
    });
    console.info(`onboarded 200 tenants in ${Date.now() - t0} ms`);
    const bad = tenants.slice(0, 10);
    const healthy = new Set(tenants.slice(10).map((t) => t.tenantId));
    for (const t of bad.slice(0, 4)) await setTenantSecret(app, t.tenantId, "not-the-right-secret-value", new Date(clock.now().getTime() + 100 * 86_400_000));
    for (const t of bad.slice(4, 7)) sim.control.injectFault({ tenantId: t.tenantId, path: "/users/delta", status: 429, headers: { "Retry-After": "0" }, count: 1_000_000 });
    for (const t of bad.slice(7, 10)) sim.control.injectFault({ tenantId: t.tenantId, path: "/users/delta", status: 500, count: 1_000_000 });
    const expectedCode = (t: Tenant) => (bad.indexOf(t) < 4 ? "AUTH_SECRET_INVALID" : bad.indexOf(t) < 7 ? "GRAPH_THROTTLED" : "GRAPH_TRANSIENT");

    const healthyFinished = (c: Awaited<ReturnType<typeof cycle>>) => {
      expect([...healthy].filter((id) => !c.succeeded.has(id))).toEqual([]);
    };

    // Cycle 1: everyone runs; the 10 fail with their own reasons.
    let c = await cycle(app);
    expect(c.enqueued).toBe(200);
    healthyFinished(c);
    for (const t of bad) expect(c.failed.get(t.tenantId)).toBe(expectedCode(t));

    // A minute later nobody is due: the 190 by their interval, the 10 by their backoff.
    clock.advance(60_000);
    let tick = await scheduleDueRuns(app);
    expect(tick).toMatchObject({ enqueued: 0, skipped: { notDue: 190, backoff: 10 } });

    // Each backoff in turn: after it the 10 fail again and wait longer, until they are quarantined.
    for (let failures = 1; failures < QUARANTINE_AFTER; failures++) {
      const h = await app.health.get(bad[0]!.tenantId);
      expect(h.consecutiveFailures).toBe(failures);
      expect(Date.parse(h.backoffUntil!) - Date.parse(h.lastRun!.endedAt)).toBe(BACKOFF_MINUTES[failures - 1]! * 60_000);
      clock.set(Date.parse(h.backoffUntil!) + 1000);
      c = await cycle(app);
      const last = failures === QUARANTINE_AFTER - 1;
      expect(c.enqueued).toBe(last ? 200 : 10);
      if (last) healthyFinished(c);
      expect(c.failed.size).toBe(10);
    }
    for (const t of bad) {
      const h = await app.health.get(t.tenantId);
      expect(h.consecutiveFailures).toBe(QUARANTINE_AFTER);
      expect(h.quarantined).toBe(true);
    }

    // Quarantined: no more scheduled runs.
    clock.advance(60_000);
    tick = await scheduleDueRuns(app);
    expect(tick).toMatchObject({ enqueued: 0, skipped: { notDue: 190, quarantined: 10, backoff: 0 } });
    clock.advance(DAY * 60_000);
    tick = await scheduleDueRuns(app);
    expect(tick).toMatchObject({ enqueued: 190, skipped: { quarantined: 10 } });
    await drainQueue(app);

    // GET /api/tenants says why, in words an operator can act on.
    const list = (await listTenants(app)).body as { tenants: TenantStatus[] };
    expect(list.tenants).toHaveLength(200);
    const s0 = list.tenants.find((t) => t.tenantId === bad[0]!.tenantId)!;
    expect(s0).toMatchObject({ quarantined: true, consecutiveFailures: 5, nextRunAt: null, lastFailure: { code: "AUTH_SECRET_INVALID", class: "auth" } });
    expect(s0.lastFailure!.message).toMatch(/entra-sync secret set --tenant/);
    expect(s0.quarantineReason).toMatch(/unquarantine/);
    const ok = list.tenants.find((t) => healthy.has(t.tenantId))!;
    expect(ok).toMatchObject({ quarantined: false, consecutiveFailures: 0, activeRun: { state: "queued" }, lastRun: { status: "succeeded" } });

    // A manual run is still allowed; once the secret is fixed, its success lifts the quarantine.
    const fixed = bad[0]!;
    const secret = sim.control.addSecret(fixed.tenantId, fixed.clientId, { endDateTime: new Date(Date.now() + 100 * 86_400_000) });
    await setTenantSecret(app, fixed.tenantId, secret.value, new Date(clock.now().getTime() + 100 * 86_400_000));
    expect((await requestRun(app, fixed.tenantId, '{"mode":"incremental"}')).status).toBe(202);
    const [job] = await drainQueue(app);
    expect((await processSyncJob(app, job!)).outcome).toBe("completed");
    expect(await app.health.get(fixed.tenantId)).toMatchObject({ quarantined: false, consecutiveFailures: 0 });

    // The CLI lifts another's quarantine; `status` shows both.
    const lines: string[] = [];
    const io: CliIO = { out: (t) => lines.push(t), err: (t) => lines.push(t), readStdin: async () => "", isTTY: false };
    expect(await runCli(["tenant", "unquarantine", bad[9]!.tenantId], io, () => app)).toBe(0);
    expect((await app.health.get(bad[9]!.tenantId)).quarantined).toBe(false);
    lines.length = 0;
    expect(await runCli(["status", "--json"], io, () => app)).toBe(0);
    expect(lines).toHaveLength(1);
    const statuses = JSON.parse(lines[0]!) as TenantStatus[];
    expect(statuses.filter((s) => s.quarantined)).toHaveLength(8);
    lines.length = 0;
    expect(await runCli(["status", "--tenant", bad[1]!.tenantId], io, () => app)).toBe(0);
    expect(lines.join("\n")).toMatch(/QUARANTINED[\s\S]*What to do:/);
    lines.length = 0;
    expect(await runCli(["runs", "--tenant", bad[1]!.tenantId, "--limit", "3", "--json"], io, () => app)).toBe(0);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toHaveLength(3);
    expect(JSON.parse(lines[0]!)[0]).toMatchObject({ status: "failed", failure: { code: "AUTH_SECRET_INVALID", action: expect.stringContaining("secret") } });
  }, 180_000);
});
