/**
 * The change notification step of `npm start` (and of `npm run bench -- notify`): serves the HTTP functions on
 * 127.0.0.1 (dev/http-host.ts) as NOTIFICATION_URL, subscribes the tenant through the simulator's Graph (validation
 * handshake included), changes users in Entra and works the queue as the `syncWorker` function would, until the
 * changes are in the platform directory.
 */
import { createApp, type App } from "../../src/composition.js";
import { loadSettings } from "../../src/config/settings.js";
import { provideApp } from "../../src/functions/app.js";
import { silentLogger } from "../../src/log.js";
import { upkeepTenant } from "../../src/notifications/upkeep.js";
import { processSyncJob } from "../../src/runs/worker.js";
import type { SyncJob } from "../../src/queue/jobs.js";
import { startHttpHost, type HttpHost } from "../http-host.js";
import type { LocalStack } from "../stack.js";

export interface NotifiedStack {
  app: App;
  host: HttpHost;
  /** Takes the visible jobs of the queue and works them, `concurrency` at a time; returns the jobs worked. `onDone` is told as each ends. */
  work(concurrency?: number, onDone?: (job: SyncJob) => void): Promise<SyncJob[]>;
  stop(): Promise<void>;
}

/** The app of `stack` with NOTIFICATION_URL on a local HTTP host serving the functions. */
export async function notifiedStack(stack: LocalStack, env: Record<string, string> = {}): Promise<NotifiedStack> {
  const host = await startHttpHost();
  const app = createApp({ settings: loadSettings({ ...stack.env, ...env, NOTIFICATION_URL: host.url }), ca: stack.sim.ca, log: silentLogger });
  provideApp(app);
  return {
    app,
    host,
    async work(concurrency = 8, onDone) {
      const worked: SyncJob[] = [];
      for (;;) {
        const batch = await app.queue.receive(32, 600);
        if (!batch.length) return worked;
        const lanes = Array.from({ length: Math.min(concurrency, batch.length) }, async (_, lane) => {
          for (let i = lane; i < batch.length; i += concurrency) {
            const m = batch[i]!;
            await processSyncJob(app, m.job as SyncJob);
            onDone?.(m.job as SyncJob);
            await app.queue.delete(m.messageId, m.popReceipt);
            worked.push(m.job as SyncJob);
          }
        });
        await Promise.all(lanes);
      }
    },
    async stop() {
      await host.close();
      provideApp(undefined);
    },
  };
}

/** Polls until `check` holds (every 50 ms, at most `timeoutMs`); returns the ms waited, or undefined on timeout. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, tick?: () => Promise<unknown>): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    await tick?.();
    if (await check()) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

export async function notifyDemo(stack: LocalStack, tenantId: string, say: (line: string) => void): Promise<{ seconds: number | undefined }> {
  const n = await notifiedStack(stack);
  try {
    const tenant = await n.app.tenants.require(tenantId);
    const sub = await upkeepTenant(n.app, tenant);
    say(`  Subscribed tenant ${tenantId}: subscription ${sub.state.subscriptionId} (${sub.state.status}, expires ${sub.state.expiresAt.slice(0, 16)} UTC); Graph validated ${n.host.url}/api/notifications/users`);
    // a user already linked to the platform directory
    let userId: string | undefined;
    for (const u of await stack.sim.control.listUsers(tenantId)) {
      if ((await n.app.directory.findBy(tenantId, "externalId", [u.id])).get(u.id)?.length) {
        userId = u.id;
        break;
      }
    }
    if (!userId) throw new Error("no linked user to change");
    const city = `Notified ${new Date().toISOString().slice(11, 19)}`;
    const at = new Date();
    await stack.sim.control.updateUser(tenantId, userId, { city });
    say(`  ${at.toISOString().slice(11, 23)} changed city of user ${userId} in Entra to "${city}"`);
    const ms = await until(async () => (await n.app.directory.findBy(tenantId, "externalId", [userId])).get(userId)?.[0]?.city === city, 120_000, () => n.work());
    const seconds = ms === undefined ? undefined : ms / 1000;
    const run = (await n.app.runs.list(tenantId, 5)).find((r) => r.trigger === "notification");
    const runText = run ? `run ${run.runId} (trigger notification, ${run.only.join(" + ")}): queued ${run.queuedAt.slice(11, 23)}, started ${run.startedAt?.slice(11, 23) ?? "—"}, ${((run.durationMs ?? 0) / 1000).toFixed(1)} s` : "no notification run found";
    say(
      seconds === undefined
        ? `  the change did not arrive within 120 s (${runText})`
        : `  ${new Date().toISOString().slice(11, 23)} in the platform: ${seconds.toFixed(1)} s after the change (notification → ${n.app.settings.notifications.coalesceSeconds} s coalescing → ${runText})`,
    );
    return { seconds };
  } finally {
    await n.stop();
  }
}
