/**
 * Fleet benchmark: N tenants × U users through scheduler → queue → worker on the local stack. Prints tenant runs
 * per minute and the scheduler's own time per tick. Run alone: `npx tsx bench/fleet.ts [tenants] [users] [latencyMs]`.
 */
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { onboardSimTenant } from "../dev/demo/onboard.js";
import { startLocalStack } from "../dev/stack.js";
import type { PlatformUser } from "../src/directory/types.js";
import { scheduleDueRuns } from "../src/runs/scheduler.js";
import { processSyncJob } from "../src/runs/worker.js";
import type { SyncJob } from "../src/queue/jobs.js";
import { chunk, mapLimit } from "../src/util/concurrency.js";
import { validateTenant } from "../src/tenants/model.js";

const OFF = { mode: "off", source: "id", encoding: "base64", maxWritesPerRun: 0, maxPercentPerRun: 0, federatedDomains: "skip" };

export async function benchFleet(opts: { tenants: number; usersPerTenant: number; latencyMs: number; workers?: number; schedulerTenants?: number }): Promise<Record<string, unknown>> {
  const workers = opts.workers ?? 16;
  let clockOffset = 0;
  const stack = await startLocalStack({ simulator: { latencyMs: opts.latencyMs }, clock: () => new Date(Date.now() + clockOffset), workDir: ".local/bench" });
  try {
    const { app } = stack;
    const t0 = Date.now();
    await mapLimit(Array.from({ length: opts.tenants }, (_, i) => i), 8, async (i) => {
      const users = Array.from({ length: opts.usersPerTenant }, (_, k) => ({ id: randomUUID(), userPrincipalName: `u${k}@school${i}.onmicrosoft.com`, givenName: `G${k}`, surname: `S${k}`, mail: `u${k}@school${i}.example`, city: "Lund" }));
      const platformUsers: PlatformUser[] = users.filter((_, k) => k % 10 !== 0).map((u, k) => ({ id: `p${k}`, tenantId: "x", externalId: u.id, userName: u.userPrincipalName, firstName: u.givenName, city: k % 2 ? "Malmö" : "Lund" }));
      await onboardSimTenant(stack, { displayName: `School ${i}`, users, platformUsers, managedDomain: `school${i}.onmicrosoft.com`, registration: { immutableId: OFF } });
    });
    const onboardMs = Date.now() - t0;

    // Two rounds: the first a full read of every tenant, the second incremental (nothing changed).
    const rounds: Array<Record<string, unknown>> = [];
    for (const round of ["initial", "incremental"]) {
      const tick0 = Date.now();
      const tick = await scheduleDueRuns(app);
      const tickMs = Date.now() - tick0;
      const w0 = Date.now();
      let runs = 0;
      let failed = 0;
      let dropped = 0;
      let deferred = 0;
      // The host's queue trigger: a pool of workers taking messages (continuations included) until every run has
      // ended. Full reads beyond MAX_CONCURRENT_FULL_READS wait in line: their jobs come back after a short delay here
      // (2 s instead of the worker's 30 s, so the bench measures the line, not the delay).
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (;;) {
            const [m] = await app.queue.receive(1, 600);
            if (!m) {
              if (runs + dropped >= tick.enqueued) return;
              await new Promise((r) => setTimeout(r, 200));
              continue;
            }
            const r = await processSyncJob(app, m.job as SyncJob, { deferSeconds: 2 });
            await app.queue.delete(m.messageId, m.popReceipt);
            if (r.outcome === "completed") {
              runs++;
              if (r.report.status === "failed") failed++;
            } else if (r.outcome === "dropped") dropped++;
            else if (r.outcome === "deferred") deferred++;
          }
        }),
      );
      const workMs = Date.now() - w0;
      rounds.push({ round, enqueued: tick.enqueued, schedulerTickMs: tickMs, runs, failed, dropped, deferred, workMs, tenantRunsPerMinute: Math.round((runs / workMs) * 60_000) });
      if (round === "initial") clockOffset += 6 * 60_000; // the next tick, past every tenant's interval
    }
    // A tick with every tenant busy or not due: the scheduler's cost of reading the fleet.
    const idle0 = Date.now();
    const idle = await scheduleDueRuns(app);
    const idleTickMs = Date.now() - idle0;
    const result: Record<string, unknown> = { tenants: opts.tenants, usersPerTenant: opts.usersPerTenant, latencyMs: opts.latencyMs, workers, onboardMs, rounds, idleTick: { enqueued: idle.enqueued, ms: idleTickMs } };
    if (opts.schedulerTenants && opts.schedulerTenants > opts.tenants) {
      // The scheduler alone with a larger fleet (registrations only; their runs are not worked off).
      const extra = opts.schedulerTenants - opts.tenants;
      const now = app.clock();
      await mapLimit(chunk(Array.from({ length: extra }, () => validateTenant({ tenantId: randomUUID(), clientId: randomUUID(), displayName: "Bench school" }, now)), 100), 8, (part) =>
        app.tables.tenants.submitTransaction(part.map((t) => ["create", { partitionKey: "tenant", rowKey: t.tenantId, data: JSON.stringify(t), enabled: t.enabled }])),
      );
      const d0 = Date.now();
      const due = await scheduleDueRuns(app);
      const dueMs = Date.now() - d0;
      const i0 = Date.now();
      const again = await scheduleDueRuns(app);
      result.schedulerAlone = { tenants: opts.schedulerTenants, dueTick: { enqueued: due.enqueued, ms: dueMs }, idleTick: { enqueued: again.enqueued, ms: Date.now() - i0 } };
    }
    return result;
  } finally {
    await stack.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [tenants = "1000", users = "200", latency = "0", schedulerTenants = "0"] = process.argv.slice(2);
  benchFleet({ tenants: Number(tenants), usersPerTenant: Number(users), latencyMs: Number(latency), schedulerTenants: Number(schedulerTenants) })
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
