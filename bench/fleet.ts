/**
 * Fleet benchmark: N tenants × U users, onboarded by a bulk path with progress, then worked through scheduler → queue
 * → workers on the local stack with every tenant in its default modes (both steps; Immutable ID sync in `preview`).
 * Per tick: tenant runs, and the table requests and rows it cost against the users that changed. Run alone:
 * `npx tsx bench/fleet.ts [tenants] [users] [latencyMs] [schedulerTenants]`; in `npm run bench`: `--fleet-tenants N --fleet-users U`.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { TransactionAction } from "@azure/data-tables";
import type { App } from "../src/composition.js";
import { invalidUserField } from "../src/directory/table-directory.js";
import type { LocalStack } from "../dev/stack.js";
import { startLocalStack } from "../dev/stack.js";
import type { PlatformUser } from "../src/directory/types.js";
import type { SyncJob } from "../src/queue/jobs.js";
import { scheduleDueRuns } from "../src/runs/scheduler.js";
import { processSyncJob } from "../src/runs/worker.js";
import { FullReadSlots } from "../src/runs/admission.js";
import { importTenants } from "../src/tenants/fleet.js";
import { setTenantSecret } from "../src/tenants/onboarding.js";
import { mapLimit } from "../src/util/concurrency.js";
import { azuriteCpuSeconds, azuriteMemoryMb, countTableTraffic, procMemoryMb } from "./common.js";

const log = (s: string) => process.stderr.write(`  fleet: ${s}\n`);

interface FleetTenant {
  tenantId: string;
  users: Array<{ id: string }>;
}

/**
 * The bulk onboarding path: the simulator's tenants are made in memory first; then the registrations through
 * `entra-sync tenant import`'s own code (`importTenants`: a CSV validated whole, `TenantRegistry.addMany` 100 per
 * table transaction, each tenant's check 8 at once), the client secrets into Key Vault (64 at a time: one secret
 * each, as `secret set` does) and every platform directory (the platform's own existing data, bench setup) as
 * prebuilt rows in full transactions, `seedLanes` tenants (partitions) in flight. Progress every 5 s with the rate
 * and what is left.
 */
/**
 * The rows of new platform users — each user's row, index entries and claims, made by the directory adapter's own
 * write path (`TablePlatformDirectory`'s grouping, as `importUsers` makes them) — packed into full transactions of 100
 * operations, a user's rows never split. Bench only, for tenants whose partition is empty: it leaves out
 * `importUsers`' reads of existing users (two point reads per user below 200 users) and its connector-space marks
 * (a new tenant has no rows to mark).
 */
function newUserTransactions(app: App, tenantId: string, users: readonly PlatformUser[]): TransactionAction[][] {
  type Grouped = { group: { actions: TransactionAction[] } } | { error: Error };
  const d = app.directory as unknown as { group?: (tenantId: string, current: undefined, plan: () => { after: PlatformUser; create: boolean }, ensureAll: boolean) => Grouped };
  if (typeof d.group !== "function") throw new Error("bench bulk seeding: the platform directory adapter has no group() (it changed); seed with importUsers instead");
  const out: TransactionAction[][] = [];
  let cur: TransactionAction[] = [];
  for (const u of users) {
    const bad = invalidUserField(u);
    if (bad) throw new Error(`bench bulk seeding: user ${u.id}: ${bad.field} ${bad.problem}`);
    const g = d.group.call(app.directory, tenantId, undefined, () => ({ after: u, create: true }), false);
    if ("error" in g) throw g.error;
    if (cur.length + g.group.actions.length > 100) {
      out.push(cur);
      cur = [];
    }
    cur.push(...g.group.actions);
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * Watches admission control from outside (bench only: the slots' own acquire and release wrapped): full reads holding
 * a slot at once, and the order they were admitted in against the order their runs were queued. First queued, first
 * served lets a run take a slot the runs ahead of it leave over (more slots free than runs ahead), so an "overtake"
 * is a run admitted while `limit` or more runs queued before it, already turned away, still wait: then even with
 * every slot free, one of them should have had it.
 */
function watchAdmission(limit: number): { reset(): void; snapshot(): { admitted: number; maxConcurrent: number; overtakes: number; maxWaitSeconds: number } } {
  const proto = FullReadSlots.prototype;
  const acquire = proto.acquire;
  const release = proto.release;
  let holding = new Set<string>();
  let waiting = new Map<string, number>(); // runId → queuedAt (ms) of runs turned away and not yet admitted
  let admitted = 0;
  let maxConcurrent = 0;
  let overtakes = 0;
  let maxWait = 0;
  proto.acquire = async function (this: FullReadSlots, req) {
    const a = await acquire.call(this, req);
    const queuedAt = Date.parse(req.queuedAt);
    if (!a.admitted) waiting.set(req.runId, queuedAt);
    else if (!holding.has(req.runId)) {
      waiting.delete(req.runId);
      if ([...waiting.values()].filter((q) => q < queuedAt).length >= limit) overtakes++;
      holding.add(req.runId);
      admitted++;
      maxConcurrent = Math.max(maxConcurrent, holding.size);
      maxWait = Math.max(maxWait, (Date.now() - queuedAt) / 1000);
    }
    return a;
  };
  proto.release = async function (this: FullReadSlots, runId: string) {
    holding.delete(runId);
    return release.call(this, runId);
  };
  return {
    reset: () => {
      holding = new Set();
      waiting = new Map();
      admitted = maxConcurrent = overtakes = maxWait = 0;
    },
    snapshot: () => ({ admitted, maxConcurrent, overtakes, maxWaitSeconds: Math.round(maxWait) }),
  };
}

/** The 1-, 5- and 15-minute load averages, as `uptime` prints them. */
const loadAverage = () => os.loadavg().map((x) => x.toFixed(1)).join(" ");

interface DirectorySeeding {
  rows: number;
  transactions: number;
  lanes: number;
  seconds: number;
  rowsPerSecond: number;
  azuriteCpuSeconds: number;
  azuriteCpuUsPerRow: number;
  azurite: { rssMb: number; hwmMb: number };
  load: string;
}

async function bulkOnboard(stack: LocalStack, tenants: number, usersPerTenant: number, o: { seedLanes?: number } = {}): Promise<{ fleet: FleetTenant[]; seconds: Record<string, number>; directories: DirectorySeeding; azuriteBeforeDirectories: { rssMb: number; hwmMb: number } }> {
  const { sim, app } = stack;
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (k: string) => {
    seconds[k] = Math.round((performance.now() - t) / 100) / 10;
    t = performance.now();
  };
  let done = 0;
  let total = tenants;
  let directories: DirectorySeeding | undefined;
  let stage = "simulator tenants";
  let stageStart = performance.now();
  const progress = setInterval(() => {
    const s = (performance.now() - stageStart) / 1000;
    const rate = done / Math.max(s, 0.001);
    const left = rate > 0 ? Math.round((total - done) / rate) : undefined;
    log(`onboarding: ${stage} ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} (${rate.toFixed(1)}/s${left !== undefined ? `, ~${left} s left` : ""}; Azurite RSS ${azuriteMemoryMb().rssMb} MiB, load ${loadAverage()})`);
  }, 5000);
  const next = (name: string, of = tenants) => {
    stage = name;
    total = of;
    done = 0;
    stageStart = performance.now();
  };
  try {
    const expires = new Date(app.clock().getTime() + 365 * 86_400_000);
    const made = await mapLimit(Array.from({ length: tenants }, (_, i) => i), 8, async (i) => {
      const created = await sim.control.createTenant({ displayName: `School ${i}`, initialDomain: `school${i}.onmicrosoft.com` });
      const simApp = await sim.control.createApp(created.id, { displayName: "entra-sync", roles: ["User.ReadWrite.All", "Domain.Read.All", "Application.Read.All"] });
      const secret = await sim.control.addSecret(created.id, simApp.clientId, { endDateTime: expires });
      const users = Array.from({ length: usersPerTenant }, (_, k) => ({ id: randomUUID(), userPrincipalName: `u${k}@school${i}.onmicrosoft.com`, givenName: `G${k}`, surname: `S${k}`, mail: `u${k}@school${i}.example`, city: "Lund" }));
      await sim.control.addUsers(created.id, users);
      done++;
      // The simulator's control calls never wait for I/O: yield, so that the progress line (a timer) gets its turn.
      await new Promise((r) => setImmediate(r));
      return { tenantId: created.id, clientId: simApp.clientId, secret: secret.value, users: users.map((u) => ({ id: u.id })), name: `School ${i}` };
    });
    lap("simulator");
    next("tenant import: registered");
    // `entra-sync tenant import FILE.csv`'s own code: the file validated whole, the registrations 100 per transaction
    // (`TenantRegistry.addMany`), then each tenant's check (before its secret is stored: SECRET_MISSING), 8 at once.
    // Default registration: both steps, Immutable ID sync in `preview`.
    const csv = path.join(mkdtempSync(path.join(os.tmpdir(), "fleet-import-")), "tenants.csv");
    writeFileSync(csv, ["tenantId,clientId,name", ...made.map((m) => `${m.tenantId},${m.clientId},${m.name}`)].join("\n"));
    let checkStart = 0;
    const imported = await importTenants(app, csv, {
      onProgress: (p) => {
        if (p.stage === "checked" && stage !== "tenant import: checked") {
          lap("registry");
          checkStart = performance.now();
          next("tenant import: checked");
        }
        done = p.done;
      },
    });
    rmSync(path.dirname(csv), { recursive: true, force: true });
    if (imported.length !== made.length) throw new Error(`bench: tenant import registered ${imported.length} of ${made.length} tenants`);
    if (!checkStart) lap("registry");
    lap("importChecks");
    next("secrets stored");
    await mapLimit(made, 64, async (m) => {
      await setTenantSecret(app, m.tenantId, m.secret, expires);
      done++;
    });
    lap("secrets");
    const azuriteBeforeDirectories = azuriteMemoryMb();
    // Every tenant's rows prebuilt when its turn comes (a tenant's at a time per lane, so memory holds `seedLanes`
    // tenants' rows, not the fleet's), then written as full transactions, one at a time per tenant (its partition),
    // `seedLanes` tenants (partitions) in flight.
    const seedLanes = o.seedLanes ?? 16;
    let platformRows = 0;
    let transactions = 0;
    next(`directories (rows written: tenants done)`);
    const dirCpu0 = azuriteCpuSeconds();
    const dir0 = performance.now();
    await mapLimit(made, seedLanes, async (m, i) => {
      // Nine in ten users have a platform user (linked by externalId), out of date in half of them.
      const platformUsers: PlatformUser[] = [];
      m.users.forEach((u, k) => {
        if (k % 10 !== 0) platformUsers.push({ id: `p${k}`, tenantId: m.tenantId, externalId: u.id, userName: `u${k}@school${i}.onmicrosoft.com`, firstName: `G${k}`, city: k % 2 ? "Malmö" : "Lund" });
      });
      for (const actions of newUserTransactions(app, m.tenantId, platformUsers)) {
        await app.tables.platformUsers.submitTransaction(actions);
        platformRows += actions.length;
        transactions++;
      }
      done++;
    });
    const dirSeconds = (performance.now() - dir0) / 1000;
    const dirCpu = azuriteCpuSeconds() - dirCpu0;
    directories = { rows: platformRows, transactions, lanes: seedLanes, seconds: Math.round(dirSeconds * 10) / 10, rowsPerSecond: Math.round(platformRows / dirSeconds), azuriteCpuSeconds: Math.round(dirCpu * 10) / 10, azuriteCpuUsPerRow: Math.round((dirCpu * 1e6) / Math.max(1, platformRows)), azurite: azuriteMemoryMb(), load: loadAverage() };
    log(`directories: ${platformRows.toLocaleString("en-US")} rows in ${transactions.toLocaleString("en-US")} transactions, ${seedLanes} partitions in flight: ${directories.rowsPerSecond.toLocaleString("en-US")} rows/s, Azurite ${directories.azuriteCpuUsPerRow} µs CPU per row, RSS ${directories.azurite.rssMb} MiB (load ${directories.load})`);
    lap("directories");
    return { fleet: made.map((m) => ({ tenantId: m.tenantId, users: m.users })), seconds, directories: directories!, azuriteBeforeDirectories };
  } finally {
    clearInterval(progress);
  }
}

export async function benchFleet(opts: { tenants: number; usersPerTenant: number; latencyMs: number; workers?: number; schedulerTenants?: number; changedTenantsPercent?: number; changedUsersPercent?: number; onboardOnly?: boolean; seedLanes?: number }): Promise<Record<string, unknown>> {
  const workers = opts.workers ?? 16;
  const { acquire: acquireOriginal, release: releaseOriginal } = FullReadSlots.prototype;
  let clockOffset = 0;
  const stack = await startLocalStack({ simulator: { latencyMs: opts.latencyMs }, clock: () => new Date(Date.now() + clockOffset), workDir: ".local/bench" });
  try {
    const { app } = stack;
    const t0 = performance.now();
    log(`onboarding ${opts.tenants.toLocaleString("en-US")} tenants × ${opts.usersPerTenant.toLocaleString("en-US")} users (bulk path) …`);
    const azuriteAtStart = azuriteMemoryMb();
    const { fleet, seconds: onboardStages, directories, azuriteBeforeDirectories } = await bulkOnboard(stack, opts.tenants, opts.usersPerTenant, { seedLanes: opts.seedLanes });
    const onboardSeconds = Math.round((performance.now() - t0) / 100) / 10;
    // Azurite's memory per directory row: its RSS after the directories less before them (tables hold nothing else yet
    // but the registrations and a few secrets' rows).
    const azuriteMemory = { atStartMb: azuriteAtStart.rssMb, beforeDirectoriesMb: azuriteBeforeDirectories.rssMb, afterDirectoriesMb: directories.azurite.rssMb, bytesPerDirectoryRow: Math.round(((directories.azurite.rssMb - azuriteBeforeDirectories.rssMb) * 2 ** 20) / Math.max(1, directories.rows)) };
    log(`onboarded in ${onboardSeconds} s ${JSON.stringify(onboardStages)}; Azurite ${JSON.stringify(azuriteMemory)}; bench process RSS ${procMemoryMb().rssMb} MiB`);
    const onboarding = { onboardSeconds, onboardStages, directories, azuriteMemory, benchProcessRssMb: procMemoryMb().rssMb };
    if (opts.onboardOnly) return { tenants: opts.tenants, usersPerTenant: opts.usersPerTenant, latencyMs: opts.latencyMs, ...onboarding, ticks: [] };
    const traffic = countTableTraffic(app);
    const admission = watchAdmission(app.settings.maxConcurrentFullReads);

    // Ticks: a first one (every tenant's full read, and its first Immutable ID plan), one after some users changed,
    // and one with nothing changed. Each tick's runs are worked off before the next; the clock jumps past the interval.
    const changedTenants = Math.max(1, Math.round((opts.tenants * (opts.changedTenantsPercent ?? 10)) / 100));
    const changedPerTenant = Math.max(1, Math.round((opts.usersPerTenant * (opts.changedUsersPercent ?? 1)) / 100));
    const ticks: Array<Record<string, unknown>> = [];
    for (const name of ["initial", "changes", "no change"]) {
      let changes = 0;
      if (name === "changes") {
        for (const t of fleet.slice(0, changedTenants)) {
          for (const u of t.users.slice(0, changedPerTenant)) {
            stack.sim.control.updateUser(t.tenantId, u.id, { city: `Visby ${Date.now()}` });
            changes++;
          }
        }
      } else if (name === "initial") changes = opts.tenants * opts.usersPerTenant;
      traffic.reset();
      admission.reset();
      const cpu0 = azuriteCpuSeconds();
      const benchCpu0 = process.cpuUsage();
      const tick0 = performance.now();
      const tick = await scheduleDueRuns(app);
      const tickMs = performance.now() - tick0;
      const schedulerTraffic = traffic.snapshot();
      const w0 = performance.now();
      let runs = 0;
      let failed = 0;
      let dropped = 0;
      let deferred = 0;
      let read = 0;
      let planned = 0;
      // Progress every 30 s: runs ended of those enqueued, users read by them, deferrals (full reads waiting their turn).
      const progress = setInterval(() => {
        const s = (performance.now() - w0) / 1000;
        const rate = runs / Math.max(s, 0.001);
        log(`tick "${name}": ${runs.toLocaleString("en-US")} / ${tick.enqueued.toLocaleString("en-US")} runs ended, ${read.toLocaleString("en-US")} users read, ${deferred.toLocaleString("en-US")} deferrals, ${admission.snapshot().maxConcurrent} full reads at most at once, ${traffic.snapshot().rows.toLocaleString("en-US")} table rows, ${s.toFixed(0)} s${rate > 0 ? `, ~${Math.round((tick.enqueued - runs) / rate)} s left` : ""}; Azurite ${(azuriteCpuSeconds() - cpu0).toFixed(0)} s CPU, RSS ${azuriteMemoryMb().rssMb} MiB; load ${loadAverage()}`);
      }, 30_000);
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
              read += r.report.update.read;
              planned += r.report.immutableId?.plan?.entries ?? 0;
            } else if (r.outcome === "dropped") dropped++;
            else if (r.outcome === "deferred") deferred++;
          }
        }),
      );
      clearInterval(progress);
      const workMs = performance.now() - w0;
      const all = traffic.snapshot();
      const benchCpu = process.cpuUsage(benchCpu0);
      ticks.push({
        tick: name,
        enqueued: tick.enqueued,
        schedulerTickMs: Math.round(tickMs),
        runs,
        failed,
        dropped,
        deferred,
        changedUsers: changes,
        usersRead: read,
        immutableIdPlanned: planned,
        workSeconds: Math.round(workMs / 100) / 10,
        tenantRunsPerMinute: Math.round((runs / workMs) * 60_000),
        tableRequests: all.requests,
        tableRows: all.rows,
        schedulerTableRequests: schedulerTraffic.requests,
        tableRowsPerChangedUser: changes ? Math.round((all.rows / changes) * 100) / 100 : null,
        tableRowsPerRun: runs ? Math.round(all.rows / runs) : null,
        byTable: all.byTable,
        // CPU seconds: Azurite's child, and this process (the workers, the scheduler and the simulator share it).
        azuriteCpuSeconds: Math.round((azuriteCpuSeconds() - cpu0) * 10) / 10,
        benchProcessCpuSeconds: Math.round((benchCpu.user + benchCpu.system) / 1e5) / 10,
        azuriteRssMb: azuriteMemoryMb().rssMb,
        load: loadAverage(),
        // Full reads admitted, most at once (MAX_CONCURRENT_FULL_READS bounds it), admitted out of queue order.
        fullReads: { limit: app.settings.maxConcurrentFullReads, ...admission.snapshot() },
      });
      log(`tick "${name}": ${runs} runs (${failed} failed), ${changes.toLocaleString("en-US")} changed users, ${all.requests.toLocaleString("en-US")} table requests, ${all.rows.toLocaleString("en-US")} rows, ${(workMs / 1000).toFixed(1)} s`);
      if (name !== "no change") clockOffset += 6 * 60_000; // the next tick, past every tenant's interval
    }
    // A tick with every tenant busy or not due: the scheduler's cost of reading the fleet.
    const idle0 = performance.now();
    const idle = await scheduleDueRuns(app);
    const idleTickMs = performance.now() - idle0;
    const result: Record<string, unknown> = { tenants: opts.tenants, usersPerTenant: opts.usersPerTenant, latencyMs: opts.latencyMs, workers, ...onboarding, azuriteHwmMb: azuriteMemoryMb().hwmMb, changedTenants, changedUsersPerTenant: changedPerTenant, ticks, idleTick: { enqueued: idle.enqueued, ms: Math.round(idleTickMs) } };
    if (opts.schedulerTenants && opts.schedulerTenants > opts.tenants) {
      // The scheduler alone with a larger fleet (registrations only, through the bulk path; their runs are not worked off).
      await app.tenants.addMany(Array.from({ length: opts.schedulerTenants - opts.tenants }, () => ({ tenantId: randomUUID(), clientId: randomUUID(), displayName: "Bench school" })));
      const d0 = performance.now();
      const due = await scheduleDueRuns(app);
      const dueMs = performance.now() - d0;
      const i0 = performance.now();
      const again = await scheduleDueRuns(app);
      result.schedulerAlone = { tenants: opts.schedulerTenants, dueTick: { enqueued: due.enqueued, ms: Math.round(dueMs) }, idleTick: { enqueued: again.enqueued, ms: Math.round(performance.now() - i0) } };
    }
    return result;
  } finally {
    FullReadSlots.prototype.acquire = acquireOriginal;
    FullReadSlots.prototype.release = releaseOriginal;
    await stack.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [tenants = "1000", users = "2000", latency = "100", schedulerTenants = "0"] = process.argv.slice(2);
  benchFleet({ tenants: Number(tenants), usersPerTenant: Number(users), latencyMs: Number(latency), schedulerTenants: Number(schedulerTenants) })
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
