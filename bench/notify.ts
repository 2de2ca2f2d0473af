/**
 * `npm run bench -- notify`: Graph change notifications on the local stack, end to end — the simulator's Graph sends
 * notifications over loopback to the functions on the local HTTP host, runs are queued and worked as `syncWorker`
 * would (the queue polled every 50 ms, the host's at least every 2 s in Azure: host.json `maxPollingInterval`).
 * Measures change → platform latency for single changes and for a burst of changes across many tenants (coalesced
 * into one run per tenant), the Graph requests of the burst, and the cost of renewals per day from the renewal rule
 * (and the requests one renewal takes, measured).
 */
import { randomUUID } from "node:crypto";
import { onboardSimTenant } from "../dev/demo/onboard.js";
import { notifiedStack, until } from "../dev/demo/notify-demo.js";
import { upkeepSubscriptions, upkeepTenant } from "../src/notifications/upkeep.js";
import { renewalsPerDay, RENEW_BEFORE_MS, SUBSCRIPTION_LIFETIME_MS } from "../src/notifications/renewal.js";
import { runWithLease } from "../src/runs/worker.js";
import type { PlatformUser } from "../src/directory/types.js";
import type { SimUserInput } from "../dev/simulator/types.js";
import { mapLimit } from "../src/util/concurrency.js";
import { log, round, startBenchStack } from "./common.js";

export interface NotifyResult {
  coalesceSeconds: number;
  single: { changes: number; p50Seconds: number; p95Seconds: number; maxSeconds: number };
  burst: {
    tenants: number;
    changes: number;
    runs: number;
    runsPerTenantMax: number;
    notificationPosts: number;
    notificationsDelivered: number;
    graphRequests: number;
    graphRequestsByRoute: Record<string, number>;
    p50Seconds: number;
    p95Seconds: number;
    maxSeconds: number;
    allArrived: boolean;
  };
  renewals: { subscriptions: number; perDay: number; requestsPerRenewalMeasured: number; requestsPerDay: number; renewEveryDays: number };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0;
};

function directory(n: number): { users: Array<SimUserInput & { id: string }>; platformUsers: PlatformUser[] } {
  const users: Array<SimUserInput & { id: string }> = [];
  const platformUsers: PlatformUser[] = [];
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    users.push({ id, userPrincipalName: `u${i}@school.onmicrosoft.com`, givenName: `G${i}`, surname: `S${i}`, city: "Lund" });
    platformUsers.push({ id: `p-${i}`, tenantId: "x", externalId: id, userName: `u${i}@school.onmicrosoft.com`, firstName: `G${i}`, lastName: `S${i}`, city: "Lund" });
  }
  return { users, platformUsers };
}

export async function benchNotify(o: { latencyMs: number; tenants?: number; changesPerTenant?: number; singles?: number }): Promise<NotifyResult> {
  const tenants = o.tenants ?? 100;
  const perTenant = o.changesPerTenant ?? 100;
  const stack = await startBenchStack(o.latencyMs);
  await stack.sim.control.setThrottle(false);
  const n = await notifiedStack(stack);
  const app = n.app;
  try {
    log(`   onboarding ${tenants} tenants of ${perTenant} users, a full run and a subscription each …`);
    const onboarded = await mapLimit(
      Array.from({ length: tenants }, (_, i) => i),
      4,
      async (i) => {
        const d = directory(perTenant);
        const { tenant } = await onboardSimTenant(stack, { displayName: `School ${i}`, managedDomain: "school.onmicrosoft.com", users: d.users, platformUsers: d.platformUsers, roles: ["User.Read.All", "Domain.Read.All"], registration: { immutableId: { mode: "off" } } });
        await runWithLease(app, { tenantId: tenant.tenantId, trigger: "manual", mode: "full", dryRun: false, only: ["update"] });
        const r = await upkeepTenant(app, tenant);
        if (r.error) throw new Error(r.error);
        return { tenant, users: d.users };
      },
    );
    const cityOf = async (tenantId: string, id: string) => (await app.directory.findBy(tenantId, "externalId", [id])).get(id)?.[0]?.city;

    // Single changes, one after another.
    const singles: number[] = [];
    const first = onboarded[0]!;
    for (let i = 0; i < (o.singles ?? 10); i++) {
      const u = first.users[i % first.users.length]!;
      const city = `single-${i}`;
      await stack.sim.control.updateUser(first.tenant.tenantId, u.id, { city });
      const ms = await until(async () => (await cityOf(first.tenant.tenantId, u.id)) === city, 120_000, () => n.work());
      if (ms === undefined) throw new Error("a single change did not arrive within 120 s");
      singles.push(ms / 1000);
    }

    // The burst: every user of every tenant changes at once.
    await stack.sim.control.resetStats();
    const before = await stack.sim.control.notificationStats();
    const changedAt = new Map<string, number>();
    const t0 = performance.now();
    for (const { tenant, users } of onboarded) {
      for (const u of users) await stack.sim.control.updateUser(tenant.tenantId, u.id, { city: "burst" });
      changedAt.set(tenant.tenantId, performance.now());
    }
    const runsByTenant = new Map<string, number>();
    const arrived = new Map<string, number>();
    const done = await until(
      async () => arrived.size === tenants,
      600_000,
      async () => {
        // The platform holds a tenant's changes once its run has ended.
        await n.work(8, (j) => {
          arrived.set(j.tenantId, performance.now());
          runsByTenant.set(j.tenantId, (runsByTenant.get(j.tenantId) ?? 0) + 1);
        });
      },
    );
    // Per change: from its own change to its tenant's arrival (a tenant's changes were made within ms of each other;
    // the first of them is taken as the change time, which can only overstate the latency).
    const latencies: number[] = [];
    let prev = t0;
    for (const { tenant } of onboarded) {
      const start = prev;
      prev = changedAt.get(tenant.tenantId)!;
      const a = arrived.get(tenant.tenantId);
      if (a !== undefined) for (let i = 0; i < perTenant; i++) latencies.push((a - start) / 1000);
    }
    let allArrived = done !== undefined;
    for (const { tenant, users } of onboarded) for (const u of users.slice(-3)) if ((await cityOf(tenant.tenantId, u.id)) !== "burst") allArrived = false;
    const after = await stack.sim.control.notificationStats();
    const stats = await stack.sim.control.stats();
    const graphByRoute = Object.fromEntries(Object.entries(stats.byRoute).filter(([k]) => k.includes("/v1.0/") || k.includes("token")));

    // Renewals: move every subscription into its renewal window and let the upkeep renew them all.
    const skip = SUBSCRIPTION_LIFETIME_MS - RENEW_BEFORE_MS + 3_600_000;
    await stack.sim.control.advanceClock(skip);
    const later = { ...app, clock: () => new Date(Date.now() + skip) };
    await stack.sim.control.resetStats();
    const u = await upkeepSubscriptions(later, { limit: tenants, concurrency: 8 });
    const renewStats = await stack.sim.control.stats();
    const renewed = u.done.renew;
    const perRenewal = renewed ? renewStats.requests / renewed : 0;
    const perDay = renewalsPerDay(5000);

    return {
      coalesceSeconds: app.settings.notifications.coalesceSeconds,
      single: { changes: singles.length, p50Seconds: round(pct(singles, 50), 2), p95Seconds: round(pct(singles, 95), 2), maxSeconds: round(Math.max(...singles), 2) },
      burst: {
        tenants,
        changes: tenants * perTenant,
        runs: [...runsByTenant.values()].reduce((a, b) => a + b, 0),
        runsPerTenantMax: Math.max(0, ...runsByTenant.values()),
        notificationPosts: after.posts - before.posts,
        notificationsDelivered: after.notifications - before.notifications,
        graphRequests: Object.values(graphByRoute).reduce((a, b) => a + b, 0),
        graphRequestsByRoute: graphByRoute,
        p50Seconds: round(pct(latencies, 50), 2),
        p95Seconds: round(pct(latencies, 95), 2),
        maxSeconds: round(latencies.length ? Math.max(...latencies) : 0, 2),
        allArrived,
      },
      renewals: { subscriptions: 5000, perDay: round(perDay, 1), requestsPerRenewalMeasured: round(perRenewal, 2), requestsPerDay: round(perDay * perRenewal, 0), renewEveryDays: round((SUBSCRIPTION_LIFETIME_MS - RENEW_BEFORE_MS) / 86_400_000, 2) },
    };
  } finally {
    await n.stop();
    await stack.stop();
  }
}
