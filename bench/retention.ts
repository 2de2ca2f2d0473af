/**
 * Retention over time: a small fleet lives through many simulated days (default 1,000) on the local stack, through
 * the production path — each day the scheduler's tick (which also prunes history and plans), the queue worker on
 * every job, the daily secret expiry check — with a clock moved one day per step, over the real table adapters on
 * Azurite. Every day a few Entra users leave (hard-deleted) and as many join, each with a platform user, so every
 * day's Immutable ID preview plan differs; every 200 days each tenant's client secret is rotated. Rows are counted
 * per table at checkpoints (the audit log apart from the platform's users it shares a table with). A table is bounded
 * when its rows on the last day are at most its rows on a reference day — the first checkpoint past a tenth of the run
 * and past the longest retention (the audit log's) — plus a constant (two per tenant); the platform's own users are
 * input (the simulated platform never deletes them) and are reported with their slope.
 *
 *   npx tsx bench/retention.ts [days=1000] [tenants=3] [users=30] [churnPerDay=2]
 */
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { startLocalStack } from "../dev/stack.js";
import { onboardSimTenant } from "../dev/demo/onboard.js";
import { runSecretExpiryCheck } from "../src/expiry/check.js";
import type { SyncJob } from "../src/queue/jobs.js";
import { scheduleDueRuns } from "../src/runs/scheduler.js";
import { processSyncJob } from "../src/runs/worker.js";
import { TABLES } from "../src/state/tables.js";
import { AUDIT_PREFIX } from "../src/audit/entry.js";

/** The audit log's rows, counted apart from the platform directory's table they live in. */
const AUDIT_ROWS = "platformusers (audit log)";
import { setTenantSecret } from "../src/tenants/onboarding.js";

export interface RetentionOptions {
  days: number;
  tenants: number;
  users: number;
  churnPerDay: number;
}

export interface RetentionResult {
  options: RetentionOptions;
  /** Rows per table at each checkpoint day. */
  rows: Array<{ day: number } & Record<string, number>>;
  /** `bounded`: rows on the last day at most those on `refDay` plus two per tenant; "input" for the platform's own users. */
  tables: Array<{ table: string; max: number; refDay: number; atRef: number; atEnd: number; bounded: boolean | "input"; rowsPerDay: number }>;
  runs: number;
  seconds: number;
}

const DAY = 86_400_000;

export async function benchRetention(o: RetentionOptions): Promise<RetentionResult> {
  const t0 = Date.now();
  let now = Date.parse("2027-01-04T06:00:00Z");
  const clock = () => new Date(now);
  const stack = await startLocalStack({ clock, simulator: { throttle: false, latencyMs: 0 }, workDir: ".local/bench" });
  const { app, sim } = stack;
  try {
    const members = new Map<string, string[]>();
    const tenants: string[] = [];
    const person = (t: number, k: string) => ({ id: randomUUID(), userPrincipalName: `${k}@retention${t}.onmicrosoft.com`, givenName: k, surname: "S", city: "Lund" });
    for (let t = 0; t < o.tenants; t++) {
      const users = Array.from({ length: o.users }, (_, k) => person(t, `u${k}`));
      const { tenant } = await onboardSimTenant(stack, {
        displayName: `Retention school ${t}`,
        users,
        platformUsers: users.map((u) => ({ id: `p-${u.id}`, tenantId: "x", externalId: u.id, userName: u.userPrincipalName })),
        managedDomain: `retention${t}.onmicrosoft.com`,
        secretDays: 200,
      });
      tenants.push(tenant.tenantId);
      members.set(tenant.tenantId, users.map((u) => u.id));
    }
    const names = Object.values(TABLES);
    const count = async (): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const [key, name] of Object.entries(TABLES) as Array<[keyof typeof TABLES, string]>) {
        let n = 0;
        let audit = 0;
        for await (const page of app.tables[key].listEntities({ queryOptions: { select: ["PartitionKey", "RowKey"] } }).byPage({ maxPageSize: 1000 })) {
          n += page.length;
          if (key === "platformUsers") audit += page.filter((e) => e.rowKey!.startsWith(AUDIT_PREFIX)).length;
        }
        // The platform directory's table also holds the audit log: counted apart, as the platform's own users (and
        // their index entries) are input, not retention.
        if (key === "platformUsers") {
          out[AUDIT_ROWS] = audit;
          out[name] = n - audit;
        } else out[name] = n;
      }
      return out;
    };
    const rows: RetentionResult["rows"] = [];
    const checkpoints = new Set([1, Math.max(1, Math.round(o.days / 10)), o.days]);
    for (let d = 1; d <= o.days; d++) if (d % Math.max(1, Math.round(o.days / 20)) === 0) checkpoints.add(d);
    let runs = 0;
    let serial = o.users;
    for (let day = 1; day <= o.days; day++) {
      // The directory changes: some leave, as many join (with their platform users).
      for (const [t, id] of tenants.entries()) {
        const ids = members.get(id)!;
        for (const gone of ids.splice(0, o.churnPerDay)) sim.control.hardDeleteUser(id, gone);
        const joined = Array.from({ length: o.churnPerDay }, () => person(t, `u${serial++}`));
        sim.control.addUsers(id, joined);
        await app.directory.importUsers(id, joined.map((u) => ({ id: `p-${u.id}`, tenantId: id, externalId: u.id, userName: u.userPrincipalName })));
        ids.push(...joined.map((u) => u.id));
        if (day % 200 === 0) {
          const { clientId } = await app.tenants.require(id);
          const expires = new Date(now + 200 * DAY);
          const secret = sim.control.addSecret(id, clientId, { endDateTime: expires });
          await setTenantSecret(app, id, secret.value, expires);
        }
      }
      // The day's scheduler tick (prunes every tenant, hourly and daily passes: as if the day's ticks had passed) and its jobs.
      const tick = await scheduleDueRuns(app, { pruneSlices: 1, pruneDailySlices: 1 });
      for (;;) {
        const batch = await app.queue.receive(32, 600);
        if (batch.length === 0) break;
        for (const m of batch) {
          const r = await processSyncJob(app, m.job as SyncJob);
          await app.queue.delete(m.messageId, m.popReceipt);
          if (r.outcome === "completed") runs++;
        }
      }
      if (tick.skipped.error) throw new Error(`day ${day}: the scheduler could not start ${tick.skipped.error} runs`);
      await runSecretExpiryCheck(app);
      if (checkpoints.has(day)) {
        const c = await count();
        rows.push({ day, ...c });
        process.stderr.write(`day ${day}: ${JSON.stringify(c)}\n`);
      }
      now += DAY;
    }
    // Compared with the end: the first checkpoint past a tenth of the run and past the longest retention (the audit
    // log's), from which on every kept thing has had its chance to go.
    const from = Math.max(Math.round(o.days / 10), app.settings.audit.retentionDays + 1);
    const ref = rows.find((r) => r.day >= from) ?? rows[rows.length - 1]!;
    const end = rows[rows.length - 1]!;
    const tables = [...names, AUDIT_ROWS].map((table) => {
      const atRef = ref[table] ?? 0;
      const atEnd = end[table] ?? 0;
      const input = table === TABLES.platformUsers;
      return { table, max: Math.max(...rows.map((r) => r[table] ?? 0)), refDay: ref.day, atRef, atEnd, bounded: input ? ("input" as const) : atEnd <= atRef + 2 * o.tenants, rowsPerDay: Math.round(((atEnd - atRef) / Math.max(1, end.day - ref.day)) * 100) / 100 };
    });
    return { options: o, rows, tables, runs, seconds: Math.round((Date.now() - t0) / 1000) };
  } finally {
    await stack.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [days = "1000", tenants = "3", users = "30", churn = "2"] = process.argv.slice(2);
  benchRetention({ days: Number(days), tenants: Number(tenants), users: Number(users), churnPerDay: Number(churn) })
    .then((r) => console.log(JSON.stringify({ ...r, rows: undefined }, null, 2)))
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    });
}
