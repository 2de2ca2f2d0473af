import http from "node:http";
import type { AddressInfo } from "node:net";
import { fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpHost, type HttpHost } from "../../dev/http-host.js";
import { createApp, type App } from "../../src/composition.js";
import { loadSettings } from "../../src/config/settings.js";
import { provideApp } from "../../src/functions/app.js";
import { hashClientState } from "../../src/notifications/client-state.js";
import { setNotificationMode } from "../../src/notifications/settings.js";
import { upkeepSubscriptions, upkeepTenant } from "../../src/notifications/upkeep.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { runWithLease } from "../../src/runs/worker.js";
import { scheduleDueRuns } from "../../src/runs/scheduler.js";
import type { SyncJob } from "../../src/queue/jobs.js";
import type { Tenant } from "../../src/tenants/model.js";
import { drainQueue } from "../runs/helpers.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";

/*
 * Graph change notifications over loopback: the simulator creates subscriptions with the validation handshake to the
 * local HTTP host (which serves src/functions/ through their registrations), sends notifications on user changes and
 * lifecycle events, and the app turns them into runs.
 */

const stackOf = useLocalStack({ env: { NOTIFY_COALESCE_SECONDS: "1" } });
let host: HttpHost;
let app: App;
const logged: string[] = [];

beforeAll(async () => {
  const stack = stackOf();
  host = await startHttpHost();
  const log = { info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };
  app = createApp({ settings: loadSettings({ ...stack.env, NOTIFICATION_URL: host.url }), ca: stack.sim.ca, log });
  provideApp(app);
  await stack.sim.control.setNotificationTimings({ batchMs: 20 });
}, 60_000);
afterAll(async () => {
  await host?.close();
  provideApp(undefined);
});

/** Waits until the queued jobs are visible (the coalescing delay) and takes them all. */
async function jobsAfterDelay(ms = 1300): Promise<SyncJob[]> {
  await new Promise((r) => setTimeout(r, ms));
  return drainQueue(app);
}

async function onboarded(n = 3): Promise<{ tenant: Tenant; users: Array<{ id: string }> }> {
  const stack = stackOf();
  const { users, platformUsers } = simpleDirectory(n);
  const { tenant } = await onboard(stack, { users, platformUsers });
  await runWithLease(app, { tenantId: tenant.tenantId, trigger: "manual", mode: "full", dryRun: false });
  return { tenant, users };
}

async function cityOf(tenantId: string, externalId: string): Promise<string | undefined> {
  const found = await app.directory.findBy(tenantId, "externalId", [externalId]);
  return found.get(externalId)?.[0]?.city ?? undefined;
}

describe("Graph change notifications", () => {
  it("creates the subscription through Graph's validation handshake; a burst of changes gives one run that brings them to the platform", async () => {
    const stack = stackOf();
    const { tenant, users } = await onboarded(3);
    const r = await upkeepTenant(app, tenant);
    expect(r).toMatchObject({ action: "create", state: { status: "active" } });
    const [sub] = await stack.sim.control.listSubscriptions(tenant.tenantId);
    expect(sub).toMatchObject({ id: r.state.subscriptionId, changeType: "updated,deleted", notificationUrl: `${host.url}/api/notifications/users`, lifecycleNotificationUrl: `${host.url}/api/notifications/lifecycle` });
    // Only the clientState's hash is stored; the value is in no column and no log line.
    expect(r.state.clientStateHash).toBe(hashClientState(sub!.clientState!));
    const row = await app.tables.tenantState.getEntity(tenant.tenantId, "notifications");
    expect(JSON.stringify(row)).not.toContain(sub!.clientState!);

    for (const u of users) await stack.sim.control.updateUser(tenant.tenantId, u.id, { city: "Malmö" });
    await stack.sim.control.settleNotifications();
    expect((await stack.sim.control.notificationStats()).failed).toBe(0);
    const jobs = await jobsAfterDelay();
    expect(jobs).toHaveLength(1);
    const done = await processSyncJob(app, jobs[0]!);
    expect(done).toMatchObject({ outcome: "completed", report: { trigger: "notification", status: "succeeded" } });
    for (const u of users) expect(await cityOf(tenant.tenantId, u.id)).toBe("Malmö");
    expect(logged.join("\n")).not.toContain(sub!.clientState!);
  });

  it("answers the validation handshake as text/plain, ignores a wrong clientState or an unknown subscription (202, no run) and refuses a body that is no collection (400)", async () => {
    const { tenant } = await onboarded(1);
    const { state } = await upkeepTenant(app, tenant);
    const token = "Validation: Testing client application reachability <script>&";
    const v = await fetch(`${host.url}/api/notifications/users?validationToken=${encodeURIComponent(token)}`, { method: "POST", headers: { "content-type": "text/plain" } });
    expect(v.status).toBe(200);
    expect(v.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await v.text()).toBe(token);
    const post = (body: unknown) => fetch(`${host.url}/api/notifications/users`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
    const one = (o: Record<string, unknown>) => ({ value: [{ subscriptionId: state.subscriptionId, tenantId: tenant.tenantId, changeType: "updated", resource: "Users/x", clientState: "x".repeat(43), ...o }] });
    expect((await post(one({}))).status).toBe(202);
    expect((await post(one({ subscriptionId: "00000000-0000-0000-0000-000000000000" }))).status).toBe(202);
    expect((await post(one({ clientState: undefined }))).status).toBe(202);
    expect(await jobsAfterDelay()).toEqual([]);
    const bad = await post("not json");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("INPUT_INVALID");
    expect((await post({ value: "x" })).status).toBe(400);
  });

  it("lifecycle: reauthorizationRequired renews, subscriptionRemoved recreates and runs, missed runs", async () => {
    const stack = stackOf();
    const { tenant } = await onboarded(1);
    const first = await upkeepTenant(app, tenant);
    expect(await stack.sim.control.sendLifecycleEvent(first.state.subscriptionId, "reauthorizationRequired")).toBe(202);
    const renewed = await upkeepTenant(app, tenant);
    expect(renewed.action).toBe("renew");
    expect(renewed.state.subscriptionId).toBe(first.state.subscriptionId);

    expect(await stack.sim.control.sendLifecycleEvent(first.state.subscriptionId, "missed")).toBe(202);
    expect((await jobsAfterDelay()).map((j) => j.tenantId)).toEqual([tenant.tenantId]);
    await app.leases.releaseRun(tenant.tenantId, (await app.leases.get(tenant.tenantId))!.runId);

    expect(await stack.sim.control.sendLifecycleEvent(first.state.subscriptionId, "subscriptionRemoved")).toBe(202);
    expect((await jobsAfterDelay()).map((j) => j.tenantId)).toEqual([tenant.tenantId]);
    await app.leases.releaseRun(tenant.tenantId, (await app.leases.get(tenant.tenantId))!.runId);
    const recreated = await upkeepTenant(app, tenant);
    expect(recreated.action).toBe("recreate");
    expect(recreated.state.subscriptionId).not.toBe(first.state.subscriptionId);
    expect((await stack.sim.control.listSubscriptions(tenant.tenantId)).map((s) => s.id)).toEqual([recreated.state.subscriptionId]);
  });

  it("when Graph drops the notifications, the scheduler's run still brings the change (its interval lengthened while the subscription is healthy)", async () => {
    const stack = stackOf();
    const { tenant, users } = await onboarded(1);
    await upkeepTenant(app, tenant);
    await stack.sim.control.setNotificationsDropped(true);
    try {
      await stack.sim.control.updateUser(tenant.tenantId, users[0]!.id, { city: "Visby" });
      await stack.sim.control.settleNotifications();
      expect(await jobsAfterDelay()).toEqual([]);
      const s = await scheduleDueRuns(app);
      const job = s.jobs.find((j) => j.tenantId === tenant.tenantId);
      expect(job).toBeDefined();
      // The subscription is healthy: the next scheduled run comes after NOTIFIED_SYNC_INTERVAL_MINUTES (60), not the tenant's 5.
      const next = Date.parse((await app.leases.get(tenant.tenantId))!.nextRunAt!);
      expect(next - app.clock().getTime()).toBeGreaterThan(30 * 60_000);
      await drainQueue(app);
      await processSyncJob(app, job!);
      expect(await cityOf(tenant.tenantId, users[0]!.id)).toBe("Visby");
    } finally {
      await stack.sim.control.setNotificationsDropped(false);
    }
  });

  it("a change during a run under way is followed by one more run once the lease is given back", async () => {
    const stack = stackOf();
    const { tenant, users } = await onboarded(1);
    await upkeepTenant(app, tenant);
    await stack.sim.control.updateUser(tenant.tenantId, users[0]!.id, { city: "Ystad" });
    await stack.sim.control.settleNotifications();
    const [job] = await jobsAfterDelay();
    // The worker takes the lease, then a change comes while it works.
    const lease = await app.leases.take(tenant.tenantId, job!.runId, 0, "someone");
    expect(lease.ok).toBe(true);
    await stack.sim.control.updateUser(tenant.tenantId, users[0]!.id, { city: "Kiruna" });
    await stack.sim.control.settleNotifications();
    expect((await app.notificationRows.get(tenant.tenantId))?.pendingRunAt).not.toBe("");
    if (lease.ok) await app.leases.letGo(lease.lease);
    await processSyncJob(app, job!);
    const [next] = await jobsAfterDelay();
    expect(next?.tenantId).toBe(tenant.tenantId);
    await processSyncJob(app, next!);
    expect(await cityOf(tenant.tenantId, users[0]!.id)).toBe("Kiruna");
  });

  it("deletes the subscription when the tenant's setting is off and creates it again when on", async () => {
    const stack = stackOf();
    const { tenant } = await onboarded(1);
    const { state } = await upkeepTenant(app, tenant);
    expect(state.status).toBe("active");
    await setNotificationMode(app, tenant.tenantId, "off");
    const r = await upkeepTenant(app, tenant);
    expect(r.action).toBe("delete");
    expect(await stack.sim.control.listSubscriptions(tenant.tenantId)).toEqual([]);
    await setNotificationMode(app, tenant.tenantId, "on");
    const u = await upkeepSubscriptions(app, { limit: 1000 });
    expect(u.done.create).toBeGreaterThanOrEqual(1);
    expect(await stack.sim.control.listSubscriptions(tenant.tenantId)).toHaveLength(1);
  });

  it("Graph's refusals: an unreachable notification URL, a lifetime beyond the maximum, a missing permission", async () => {
    const stack = stackOf();
    // A port nobody listens on.
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const unreachable = createApp({ settings: loadSettings({ ...stack.env, NOTIFICATION_URL: `http://127.0.0.1:${port}` }), ca: stack.sim.ca, log: { info() {}, warn() {}, error() {} } });
    const { tenant } = await onboarded(1);
    const r = await upkeepTenant(unreachable, tenant);
    expect(r.error).toMatch(/^SUBSCRIPTION_FAILED: .*validate the notification URL/);
    expect(r.state).toMatchObject({ status: "failed", failures: 1 });
    // Backoff: the next tick does not try again at once.
    expect((await upkeepTenant(unreachable, tenant)).action).toBe("none");

    const graph = app.subscriptionGraphFor(tenant, await app.signInFor(tenant));
    const tooLong = new Date(Date.now() + 30 * 86_400_000).toISOString();
    await expect(graph.create({ notificationUrl: `${host.url}/api/notifications/users`, lifecycleNotificationUrl: `${host.url}/api/notifications/lifecycle`, clientState: "c", expirationDateTime: tooLong })).rejects.toMatchObject({ code: "SUBSCRIPTION_FAILED" });

    const { users, platformUsers } = simpleDirectory(1);
    const { tenant: noRead } = await onboard(stack, { users, platformUsers, roles: ["Domain.Read.All"] });
    const denied = await upkeepTenant(app, noRead);
    expect(denied.error).toMatch(/^AUTH_CONSENT_MISSING: .*User\.Read\.All/);
  });
});
