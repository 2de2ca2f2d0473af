import { randomUUID } from "node:crypto";
import type { TableTransaction } from "@azure/data-tables";
import type { App } from "../../src/composition.js";
import type { SyncJob } from "../../src/queue/jobs.js";
import { validateTenant, type Tenant } from "../../src/tenants/model.js";
import { chunk, mapLimit } from "../../src/util/concurrency.js";

/** A clock tests can move forward. */
export function movableClock(start = Date.now()): { now: () => Date; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return { now: () => new Date(t), advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

/** Registers `n` tenants straight into the registry table in 100-row transactions (no simulator tenant behind them). */
export async function registerBareTenants(app: App, n: number, patch: (i: number) => Record<string, unknown> = () => ({})): Promise<Tenant[]> {
  const now = app.clock();
  const tenants = Array.from({ length: n }, (_, i) => validateTenant({ tenantId: randomUUID(), clientId: randomUUID(), displayName: `School ${i}`, ...patch(i) }, now));
  await mapLimit(chunk(tenants, 100), 8, async (part) => {
    const actions: TableTransaction["actions"] = part.map((t) => ["create", { partitionKey: "tenant", rowKey: t.tenantId, data: JSON.stringify(t), enabled: t.enabled }]);
    await app.tables.tenants.submitTransaction(actions);
  });
  return tenants;
}

/** Takes every message now visible in the sync-jobs queue (deleting them unless `keep`: then they stay hidden for 10 min). */
export async function drainQueue(app: App, keep = false): Promise<SyncJob[]> {
  const out: SyncJob[] = [];
  for (;;) {
    const batch = await app.queue.receive(32, 600);
    if (batch.length === 0) return out;
    if (!keep) await Promise.all(batch.map((m) => app.queue.delete(m.messageId, m.popReceipt)));
    out.push(...batch.map((m) => m.job as SyncJob));
  }
}
