/**
 * `npm run bench [-- <workload>] [--size N] [--latency MS]`: entra-sync's benchmarks on the local stack, with the
 * simulator's Graph throttle model on and a fixed latency per request. Prints a table per workload and writes
 * bench/results.json with the machine. Workloads: full-read, incremental, immutable-id, fleet, platform-writes, scheduled, snapshot-memory, freshness, scim, status-page, notify, azurite.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BENCH_DIR, formatTable, log, machine, parseArgs, type BenchArgs } from "./common.js";
import { benchFleet } from "./fleet.js";
import { benchFreshness, type FreshnessResult } from "./freshness.js";
import { benchFullRead, type FullReadResult } from "./full-read.js";
import { benchImmutableId } from "./immutable-id.js";
import { benchIncremental, type IncrementalResult } from "./incremental.js";
import { benchPlatformWrites, type PlatformWritesResult } from "./platform-writes.js";
import { benchScim, printScim } from "./scim.js";
import { benchScheduled, NO_CHANGE_ROWS, TABLE_REQUESTS_PER_CHANGE, TABLE_REQUESTS_PER_RUN, type ScheduledResult } from "./scheduled.js";
import { benchSnapshotMemory } from "./snapshot-memory.js";
import { benchStatusPage, printStatusPage } from "./status-page.js";
import { benchNotify, type NotifyResult } from "./notify.js";
import { benchAzurite } from "./azurite.js";

const WORKLOADS = ["full-read", "incremental", "immutable-id", "fleet", "platform-writes", "scheduled", "snapshot-memory", "freshness", "scim", "status-page", "notify", "azurite"] as const;
type Workload = (typeof WORKLOADS)[number];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.filter && !WORKLOADS.includes(args.filter as Workload)) throw new Error(`unknown workload ${args.filter}; one of ${WORKLOADS.join(", ")}`);
  // "azurite" measures the local stack, not entra-sync: only when asked for.
  const selected = WORKLOADS.filter((w) => (args.filter ? w === args.filter : w !== "azurite"));
  const m = machine();
  log(`entra-sync bench · ${m.cores} cores ${m.cpu} · Node ${m.node} · size ${args.size.toLocaleString("en-US")} · latency ${args.latencyMs} ms/request · throttle model on`);
  const results: Record<string, unknown> = {};
  const t0 = performance.now();
  for (const w of selected) {
    const s = performance.now();
    log(`\n== ${w}`);
    results[w] = await runWorkload(w, args, results);
    log(`   (${((performance.now() - s) / 1000).toFixed(0)} s)`);
  }
  // Results accumulate by workload, size and latency: a default run and a `--size 100000` run sit side by side.
  const file = path.join(BENCH_DIR, "results.json");
  let previous: { results?: Record<string, unknown> } = {};
  try {
    previous = JSON.parse(readFileSync(file, "utf8")) as typeof previous;
  } catch {
    // first run
  }
  const merged: Record<string, unknown> = { ...(previous.results ?? {}) };
  for (const [w, r] of Object.entries(results)) merged[`${w} size=${args.size} latency=${args.latencyMs}`] = { machine: m, result: r };
  const totalSeconds = Math.round((performance.now() - t0) / 1000);
  writeFileSync(file, JSON.stringify({ machine: m, lastRun: { args: { size: args.size, latencyMs: args.latencyMs, filter: args.filter ?? null }, totalSeconds }, results: merged }, (k, v: unknown) => (k === "child" ? undefined : v), 2) + "\n");
  log(`\nwrote bench/results.json (${totalSeconds} s in total)`);
}

async function runWorkload(w: Workload, args: BenchArgs, done: Record<string, unknown>): Promise<unknown> {
  const big = args.size >= 100_000;
  switch (w) {
    case "full-read": {
      // Always the default 10,000 beside a larger --size, so both figures come from the same run and machine.
      const sizes = [...new Set([10_000, args.size])];
      const rows: FullReadResult[] = [];
      for (const size of sizes) rows.push(await benchFullRead({ size, latencyMs: args.latencyMs }));
      printFullRead(rows);
      return rows;
    }
    case "incremental": {
      const r = await benchIncremental({ size: args.size, latencyMs: args.latencyMs });
      printIncremental(r);
      return r;
    }
    case "immutable-id": {
      // 20,000 candidates at Graph's 20 writes/s take 17 minutes whatever is done: the default run takes fewer, with the
      // budget's window scaled down (same 20/s rate, a smaller burst) so that the budget still binds.
      // The run goes through the queue worker in short invocations that share one write budget.
      const o = big ? { candidates: 4000, windowScale: 0.1, invocationSeconds: 48 } : { candidates: 1500, windowScale: 0.05, invocationSeconds: 15 };
      const r = await benchImmutableId({ latencyMs: args.latencyMs, ...o });
      printFlat("immutable-id", r);
      return r;
    }
    case "fleet": {
      // `--fleet-tenants 1000 --fleet-users 2000` for the 1,000-tenant fleet; the default run takes 100 × 200 to stay within minutes.
      const r = await benchFleet({ tenants: args.fleetTenants, usersPerTenant: args.fleetUsers, latencyMs: args.latencyMs, onboardOnly: args.fleetOnboardOnly, seedLanes: args.fleetSeedLanes });
      printFleet(r);
      return r;
    }
    case "snapshot-memory": {
      // The directory snapshot of a full round and a full re-plan, per user: 100,000 users whatever --size (CPU only).
      const r = await benchSnapshotMemory({ size: Math.max(args.size, 100_000) });
      console.log(formatTable([["layout", "users", "bytes/user (heap + typed arrays)", "MB"], ...r.map((x) => [x.layout, x.users, x.bytesPerUser, x.mb])]));
      return r;
    }
    case "scim": {
      // Entra's initial cycle: 1,000 users by default, --size N given explicitly for more (10,000: the goal's figure).
      const r = await benchScim({ users: process.argv.some((a) => a.startsWith("--size")) ? args.size : 1000 });
      printScim(r);
      return r;
    }
    case "scheduled": {
      const r = await benchScheduled({ size: args.size, latencyMs: args.latencyMs });
      printScheduled(r);
      return r;
    }
    case "platform-writes": {
      const inc = (done["incremental"] as IncrementalResult | undefined)?.cases[0];
      const full = (done["full-read"] as FullReadResult[] | undefined)?.find((r) => r.users === inc?.tenantUsers);
      const reuse = full && inc ? { initial: full.child, incremental: inc.child, tenantUsers: full.users } : undefined;
      const r = await benchPlatformWrites({ size: args.size, latencyMs: args.latencyMs, reuse });
      printPlatformWrites(r);
      return r;
    }
    case "status-page": {
      // The tenants page for 10,000 tenants (--size N given explicitly for another fleet) against the JSON listing.
      const r = await benchStatusPage({ tenants: process.argv.some((a) => a.startsWith("--size")) ? args.size : 10_000 });
      printStatusPage(r);
      return r;
    }
    case "notify": {
      // 100 tenants × 100 changes = the 10,000-change burst; --fleet-tenants to change the tenant count.
      const r = await benchNotify({ latencyMs: args.latencyMs, tenants: process.argv.includes("--fleet-tenants") ? args.fleetTenants : 100, changesPerTenant: 100 });
      printNotify(r);
      return r;
    }
    case "azurite": {
      // Azurite's cost per write at 2,500 rows per partition and at --size (100,000 unless given), before and after its key index.
      const r = await benchAzurite({ size: process.argv.some((a) => a.startsWith("--size")) ? args.size : 100_000 });
      const k = ["insertMs", "replaceMs", "mergeMs", "deleteMs", "pointReadMs", "rangeQueryMs", "cpuMsPerTransaction"] as const;
      console.log(formatTable([["variant", "rows in partition", "fill s", ...k], ...r.rows.map((x) => [x.variant, x.partitionRows, x.fillSeconds, ...k.map((c) => x[c])])]));
      console.log(formatTable([["variant", ...k.map((c) => `${c} growth`)], ...Object.entries(r.growth).map(([v, g]) => [v, ...k.map((c) => g[c] ?? 0)])]));
      return r;
    }
    case "freshness": {
      // A pure simulation of the scheduler's decision (no stack): 5,000 tenants, ticks up to 10 s late.
      const r = benchFreshness();
      printFreshness(r);
      return r;
    }
  }
}

function printNotify(r: NotifyResult): void {
  const b = r.burst;
  console.log(
    formatTable([
      ["case", "changes", "runs", "p50 s", "p95 s", "max s", "notification POSTs", "Graph requests"],
      ["single changes", r.single.changes, r.single.changes, r.single.p50Seconds, r.single.p95Seconds, r.single.maxSeconds, "—", "—"],
      [`burst, ${b.tenants} tenants`, b.changes, b.runs, b.p50Seconds, b.p95Seconds, b.maxSeconds, b.notificationPosts, b.graphRequests],
    ]),
  );
  console.log(`  change → platform; NOTIFY_COALESCE_SECONDS ${r.coalesceSeconds}; burst: at most ${b.runsPerTenantMax} run(s) per tenant, ${b.notificationsDelivered.toLocaleString("en-US")} notifications delivered, every change arrived: ${b.allArrived ? "yes" : "NO"}; Graph requests by route ${JSON.stringify(b.graphRequestsByRoute)}`);
  const x = r.renewals;
  console.log(`  renewals: ${x.subscriptions.toLocaleString("en-US")} subscriptions, each renewed every ${x.renewEveryDays} days → ${x.perDay} renewals/day × ${x.requestsPerRenewalMeasured} requests each (measured: the Key Vault challenge and read, a token, the PATCH) ≈ ${x.requestsPerDay.toLocaleString("en-US")} requests/day`);
}

function printFreshness(r: FreshnessResult): void {
  const o = r.options;
  console.log(
    formatTable([
      ["rule", "runs", "freshness p50 s", "p99 s", "max s", "goal p99 s", "over goal p99 s", "over goal max s", "runs a whole interval late", "meets goal"],
      ...r.rules.map((x) => [x.rule, x.runs, x.freshnessP50Seconds, x.freshnessP99Seconds, x.freshnessMaxSeconds, x.goalP99Seconds, x.overGoalP99Seconds, x.overGoalMaxSeconds, x.missedIntervalShare, x.meetsGoal ? "yes" : "no"]),
    ]),
  );
  console.log(`  ${o.tenants.toLocaleString("en-US")} tenants, interval ${o.intervalMinutes} min, a tick every ${o.tickMinutes} min up to ${o.maxLateSeconds} s late (seed ${o.seed}), ${o.hours} h; run time p50 ${r.runTimeP50Seconds} s, p99 ${r.runTimeP99Seconds} s. Goal = interval + run time p99; "over goal" = freshness − (interval + the run's own time), at most the ticks' lateness.`);
}

function printFullRead(rows: FullReadResult[]): void {
  console.log(
    formatTable([
      ["users", "seconds", "users/s", "bare walk s", "bound/s", "ratio", "pages", "Graph req", "429s", "Graph wait s", "processing s", "median proc ms/page", "median page ms (walk)", "median page ms (run)", "loop delay p99 ms", "CPU ms/user", "table req", "peak RSS MB", "RSS at start MB"],
      ...rows.map((r) => [r.users, r.seconds, r.usersPerSecond, r.walk.seconds, r.boundUsersPerSecond, r.ratioToBound, r.pages, r.graphRequests, r.throttled, r.graphWaitSeconds, r.processSeconds, r.medianProcessMsPerPage, r.walk.medianPageMs, r.medianGraphMsPerPage, r.child.loopDelayMs.p99, r.cpuMsPerUser, r.tableRequests, r.peakRssMb, r.rssBeforeMb]),
    ]),
  );
  console.log("  bound = a bare walk of the same delta pages in the same run (same simulator and latency, nothing processed); peak RSS = the entra-sync child process's maxRSS (the simulator and Azurite run in other processes).");
  for (const r of rows)
    console.log(
      `  ${r.users.toLocaleString("en-US")} users: wall ${r.seconds} s = Graph wait ${r.graphWaitSeconds} s + processing ${r.processSeconds} s + other ${r.otherSeconds} s; Graph idle between pages ${r.graphIdleSeconds.between} s (${r.graphIdleSeconds.beforeFirst} s before the first); CPU s ${JSON.stringify(r.cpuSeconds)}; table round trips: connector ${r.connectorTransactions} transactions, directory ${r.directoryWriteRoundTrips} writes; seeded in ${r.seedSeconds} s`,
    );
}

function printIncremental(r: IncrementalResult): void {
  console.log(
    formatTable([
      ["case", "tenant users", "changed", "read", "updated", "seconds", "Graph req", "delta pages", "table req", "ms/changed user", "Graph wait s", "processing s"],
      ...r.cases.map((c) => [c.name, c.tenantUsers, c.changedUsers, c.read, c.updated, c.seconds, c.graphRequests, c.deltaPages, c.tableRequests, c.msPerChangedUser, c.graphWaitSeconds, c.processSeconds]),
    ]),
  );
  console.log(`  first syncs before the changes (s): ${JSON.stringify(r.initialSyncSeconds)}`);
}

function printScheduled(r: ScheduledResult): void {
  const row = (name: string, f: ScheduledResult["scheduled"]) => [name, f.seconds, f.graphRequests, f.tableRequests, f.tableRowsRead, f.cpuMs, f.peakRssMb, f.planning ?? "—"];
  console.log(
    formatTable([
      ["run", "seconds", "Graph req", "table req", "rows read", "CPU ms", "peak RSS MB", "Immutable ID plan"],
      row(`scheduled, ${r.changed.toLocaleString("en-US")} changed`, r.scheduled),
      row("update only, same changes (twin)", r.updateOnly),
      row("scheduled, no change", r.noChange),
      row("first scheduled after the full sync", r.firstScheduled),
      ...(r.firstScheduledAt10k ? [row("the same, 10,000-user tenant", r.firstScheduledAt10k)] : []),
    ]),
  );
  const ok = (b: boolean) => (b ? "within" : "OVER");
  if (r.firstPeakRatio !== undefined) console.log(`  first scheduled run's peak RSS ${r.firstScheduled.peakRssMb} MB vs ${r.firstScheduledAt10k!.peakRssMb} MB at 10,000: ${r.firstPeakRatio}× (goal ≤ 1.2×, ≤ 256 MB): ${ok(r.firstPeakRatio <= 1.2 && r.firstScheduled.peakRssMb <= 256)}`);
  console.log(`  Graph requests ${r.scheduled.graphRequests} vs ⌈changes/page⌉ + 2 = ${r.graphBound}: ${ok(r.scheduled.graphRequests <= r.graphBound)}`);
  console.log(`  table requests ${r.scheduled.tableRequests} vs ${TABLE_REQUESTS_PER_CHANGE} × ${r.changed} + ${TABLE_REQUESTS_PER_RUN} = ${r.tableBound}: ${ok(r.scheduled.tableRequests <= r.tableBound)} (${(r.scheduled.tableRequests / Math.max(1, r.changed)).toFixed(2)} per changed user)`);
  console.log(`  wall time ${r.scheduled.seconds} s vs update only ${r.updateOnly.seconds} s: ${r.wallRatio}× (goal ≤ 2×): ${ok(r.wallRatio <= 2)}`);
  console.log(`  no change: ${r.noChange.tableRowsRead} rows read, ${r.noChange.tableRequests} table requests (bound ${NO_CHANGE_ROWS} rows): ${ok(r.noChange.tableRowsRead <= NO_CHANGE_ROWS)}`);
}

function printFleet(r: Awaited<ReturnType<typeof benchFleet>>): void {
  const ticks = r.ticks as Array<Record<string, number | string | null>>;
  console.log(`fleet: ${String(r.tenants)} tenants × ${String(r.usersPerTenant)} users, onboarded in ${String(r.onboardSeconds)} s ${JSON.stringify(r.onboardStages)}; ${String(r.workers)} workers; every tenant in its default modes (Immutable ID sync: preview)`);
  console.log(
    formatTable([
      ["tick", "enqueued", "runs", "failed", "changed users", "users read", "table requests", "table rows", "rows/changed user", "rows/run", "work s", "runs/min", "scheduler ms"],
      ...ticks.map((t) => [String(t.tick), Number(t.enqueued), Number(t.runs), Number(t.failed), Number(t.changedUsers), Number(t.usersRead), Number(t.tableRequests), Number(t.tableRows), t.tableRowsPerChangedUser === null ? "—" : Number(t.tableRowsPerChangedUser), t.tableRowsPerRun === null ? "—" : Number(t.tableRowsPerRun), Number(t.workSeconds), Number(t.tenantRunsPerMinute), Number(t.schedulerTickMs)]),
    ]),
  );
  console.log(`  directories: ${JSON.stringify(r.directories)}; Azurite memory: ${JSON.stringify(r.azuriteMemory)}`);
  for (const t of ticks) console.log(`  tick "${String(t.tick)}": Azurite ${String(t.azuriteCpuSeconds)} s CPU, bench process ${String(t.benchProcessCpuSeconds)} s CPU, Azurite RSS ${String(t.azuriteRssMb)} MiB, load ${String(t.load)}; full reads ${JSON.stringify(t.fullReads)}`);
  if (r.idleTick) console.log(`  idle tick (nothing due): ${JSON.stringify(r.idleTick)}`);
}

function printPlatformWrites(r: PlatformWritesResult): void {
  console.log(
    formatTable([
      ["round", "tenant users", "connector rows", "connector tx", "directory updates", "directory round trips", "write round trips/changed user", "naive writes/changed user", "naive ÷ ours", "all table requests", "all table requests/changed user"],
      ...r.rows.map((x) => [x.round, x.tenantUsers, x.connectorRows, x.connectorTransactions, x.directoryUpdates, x.directoryWriteRoundTrips, x.perChangedUser, x.naivePerChangedUser, x.ratio, x.tableRequests, x.tableRequestsPerChangedUser]),
    ]),
  );
  const t = r.naiveTiming;
  console.log(`  side by side: ${t.rows.toLocaleString("en-US")} connector rows in ${t.batchedTransactions} transactions ${t.batchedSeconds} s vs ${t.naiveRequests.toLocaleString("en-US")} single upserts ${t.naiveSeconds} s: ${t.ratio}× (Azurite)`);
}

function printFlat(name: string, r: Record<string, unknown>): void {
  const rows: Array<[string, string]> = [];
  const walk = (prefix: string, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(`${prefix}[${i}]`, x));
    else rows.push([prefix, typeof v === "number" ? v.toLocaleString("en-US") : String(v)]);
  };
  walk("", r);
  console.log(formatTable([[name, "value"], ...rows]));
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  // The cause (a storage or network error behind an EntraSyncError), which says what actually went wrong.
  for (let c = (e as { cause?: unknown }).cause, n = 0; c && n < 3; c = (c as { cause?: unknown }).cause, n++) process.stderr.write(`caused by: ${c instanceof Error ? `${c.name}: ${c.message} ${(c as { code?: string }).code ?? ""}` : String(c)}\n`);
  process.exitCode = 1;
});
