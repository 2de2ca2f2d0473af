/**
 * The measured side of the benchmarks: one entra-sync run (or a bare page walk) in a process of its own, started by
 * bench/common.ts. It runs as production does — compiled by `tsc` to JavaScript (`.cache/bench-child/`, built by the
 * parent before the first child), not through tsx's on-the-fly transpiler, which alone added some 30 MB of RSS — and
 * it loads nothing of the local stack (dev/), so its RSS is the app's own: Node, the SDKs and src/.
 *
 * The instrumentation wraps the app's adapters from the outside (bench code only): nothing in src/ knows about it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { GCProfiler } from "node:v8";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createApp, type App } from "../src/composition.js";
import { loadSettings } from "../src/config/settings.js";
import type { ConnectorSpace } from "../src/connector/space.js";
import type { TablePlatformDirectory } from "../src/directory/table-directory.js";
import { silentLogger } from "../src/log.js";
import type { RunReport } from "../src/runs/report.js";
import { createRun, executeRun } from "../src/runs/execute.js";
import { startRun } from "../src/runs/start.js";
import { processSyncJob } from "../src/runs/worker.js";
import type { SyncJob } from "../src/queue/jobs.js";
import { newGraphCounters } from "../src/graph/client.js";
import { selectFor } from "../src/mapping/mapping.js";
import type { ChildJob, ChildResult, PageTiming, WalkResult } from "./common.js";

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nanoseconds → milliseconds, one decimal. */
const ms = (ns: number): number => Math.round(ns / 1e5) / 10;

/** The child side of runSyncInChild (bench/run.ts --child): reads the job from stdin, prints one result line. */
async function childMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const job = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ChildJob;
  const app = createApp({ settings: loadSettings(job.env), ca: readFileSync(job.caFile, "utf8"), log: silentLogger });
  // BENCH_SDK_TRANSACTIONS=1: the SDK's own submitTransaction (ours is an own property of each client; the SDK's is on
  // the prototype), to measure the two side by side.
  if (process.env.BENCH_SDK_TRANSACTIONS === "1") for (const c of Object.values(app.tables)) delete (c as { submitTransaction?: unknown }).submitTransaction;
  if (job.kind === "walk") return walkMain(app, job);
  const tables = countTableRequests(app);
  const t = instrument(app);

  let peakRss = process.memoryUsage().rss;
  let peakHeap = process.memoryUsage().heapUsed;
  const beforeMb = peakRss / 2 ** 20;
  // The reported peak is the kernel's high-water mark (maxRSS); this sampler only cross-checks it. Reading RSS cost
  // 2.5 s of a 10,000-user profile at 20 Hz: RSS every 250 ms, the heap (which walks V8's spaces) every 2.5 s.
  let ticks = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    if (++ticks % 10 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 250);

  const connector = app.connector as ConnectorSpace;
  const directory = app.directory as TablePlatformDirectory;
  const tx0 = connector.transactions;
  const wr0 = directory.writeRoundTrips;
  const scheduled = job.kind === "scheduled";
  const created = scheduled
    ? (await startRun(app, { tenantId: job.tenantId, trigger: "schedule", mode: "incremental", dryRun: false })).report
    : await createRun(app, { tenantId: job.tenantId, trigger: "manual", mode: job.mode, dryRun: false, only: ["update"] });
  const heap = await startAllocationSampling();
  const gc = process.env.BENCH_GC_FILE ? new GCProfiler() : undefined;
  gc?.start();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  t.begin();
  tables.reset();
  const { report } = scheduled ? await workQueued(app, { tenantId: job.tenantId, runId: created.runId, continuation: 0 }, () => t.pageDone()) : await executeRun(app, job.tenantId, created.runId, { onProgress: () => t.pageDone() });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  clearInterval(sampler);
  await heap?.stop();
  if (gc) writeFileSync(process.env.BENCH_GC_FILE!, JSON.stringify(gcSummary(gc.stop()?.statistics ?? [])));

  const result: ChildResult = {
    report,
    wallMs,
    pages: t.pages(),
    adapterMs: t.adapterMs,
    adapterCalls: t.adapterCalls,
    rss: { beforeMb, sampledPeakMb: peakRss / 2 ** 20, maxRssMb: process.resourceUsage().maxRSS / 1024, heapUsedPeakMb: peakHeap / 2 ** 20 },
    tableRequests: sum(Object.values(tables.byTable)),
    tableRequestsByTable: { ...tables.byTable },
    connectorTransactions: connector.transactions - tx0,
    directoryWriteRoundTrips: directory.writeRoundTrips - wr0,
    cpuSeconds: { entraSync: (cpu.user + cpu.system) / 1e6, simulator: 0, azurite: 0 },
    loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max), mean: ms(loop.mean) },
    graphIdleMs: t.graphIdleMs(),
  };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

/**
 * BENCH_HEAP_SAMPLE=<file>: V8's sampling heap profiler over the measured run, every allocation sampled (one per
 * 64 KiB allocated, on average) whether or not it is collected since, so the profile tells who allocates what the
 * garbage collector then spends its time on (`--heap-prof` keeps only what is still alive at the end).
 */
async function startAllocationSampling(): Promise<{ stop(): Promise<void> } | undefined> {
  const file = process.env.BENCH_HEAP_SAMPLE;
  if (!file) return undefined;
  const session = new Session();
  session.connect();
  await session.post("HeapProfiler.startSampling", { samplingInterval: 65536, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  return {
    stop: async () => {
      const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: unknown };
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/**
 * BENCH_GC_FILE=<file>: V8's garbage collections during the measured run, by kind (scavenges of the young generation,
 * mark-compacts…): how many and their cost in ms. Counts do not move with the machine's load; CPU seconds do.
 */
function gcSummary(stats: ReadonlyArray<{ gcType: string; cost: number }>): Record<string, { count: number; ms: number }> {
  const out: Record<string, { count: number; ms: number }> = {};
  for (const s of stats) {
    const k = (out[s.gcType] ??= { count: 0, ms: 0 });
    k.count++;
    k.ms += s.cost / 1000;
  }
  return out;
}

/** The queue worker's path for one job, and its continuations, until the run ends. */
async function workQueued(app: App, job: SyncJob, onProgress: () => void): Promise<{ report: RunReport }> {
  for (;;) {
    const r = await processSyncJob(app, job, { onProgress });
    if (r.outcome === "continued" || r.outcome === "deferred") job = r.next; // deferred: waited for a full-read slot
    else if (r.outcome === "completed" || r.outcome === "lost") return { report: r.report };
    else throw new Error(`the scheduled run's job was dropped: ${r.reason}`);
  }
}

async function walkMain(app: App, job: ChildJob): Promise<void> {
  const tenant = await app.tenants.require(job.tenantId);
  const t0 = performance.now();
  const secret = await app.secrets.get(tenant.tenantId);
  const { graph } = app.graphFor(tenant, secret, newGraphCounters());
  const select = selectFor(tenant.mapping);
  const pageMs: number[] = [];
  let users = 0;
  let link: string | undefined;
  for (;;) {
    const s = performance.now();
    const page = await graph.deltaPage(link, select);
    pageMs.push(performance.now() - s);
    users += page.entries.length;
    if (!page.nextLink) break;
    link = page.nextLink;
  }
  const result: WalkResult = { wallMs: performance.now() - t0, pages: pageMs.length, users, medianPageMs: median(pageMs), rssMaxMb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

/** Counts every HTTP request each table client sends, with a policy in the SDK's own pipeline (retries included). */
function countTableRequests(app: App): { byTable: Record<string, number>; reset(): void } {
  const byTable: Record<string, number> = {};
  for (const [name, client] of Object.entries(app.tables)) {
    const pipeline = (client as { pipeline?: { addPolicy(p: { name: string; sendRequest: (r: unknown, next: (r: unknown) => Promise<unknown>) => Promise<unknown> }): void } }).pipeline;
    pipeline?.addPolicy({
      name: `benchCount-${name}`,
      sendRequest: (req, next) => {
        byTable[name] = (byTable[name] ?? 0) + 1;
        return next(req);
      },
    });
  }
  return { byTable, reset: () => Object.keys(byTable).forEach((k) => delete byTable[k]) };
}

/**
 * Wraps the adapters the sync uses to time every call, and the Graph client to see when each delta page arrived.
 * Per page: wait = max(0, page arrived − previous page done); process = page done − max(arrived, previous done).
 */
function instrument(app: App): { adapterMs: Record<string, number>; adapterCalls: Record<string, number>; pageDone(): void; pages(): PageTiming[]; graphIdleMs(): ChildResult["graphIdleMs"]; begin(): void } {
  const adapterMs: Record<string, number> = {};
  const adapterCalls: Record<string, number> = {};
  const add = (k: string, ms: number) => {
    adapterMs[k] = (adapterMs[k] ?? 0) + ms;
    adapterCalls[k] = (adapterCalls[k] ?? 0) + 1;
  };
  const wrap = (obj: object, name: string, methods: string[]) => {
    const o = obj as Record<string, unknown>;
    for (const m of methods) {
      const fn = o[m] as ((...a: unknown[]) => unknown) | undefined;
      if (typeof fn !== "function") continue;
      o[m] = function (this: unknown, ...a: unknown[]) {
        const s = performance.now();
        const r = fn.apply(obj, a);
        if (r && typeof (r as Promise<unknown>).then === "function") return (r as Promise<unknown>).finally(() => add(`${name}.${m}`, performance.now() - s));
        if (r && typeof (r as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
          return (async function* () {
            try {
              yield* r as AsyncIterable<unknown>;
            } finally {
              add(`${name}.${m}`, performance.now() - s);
            }
          })();
        }
        add(`${name}.${m}`, performance.now() - s);
        return r;
      };
    }
  };
  wrap(app.connector, "connector", ["getMany", "putMany", "list", "isEmpty"]);
  wrap(app.directory, "directory", ["findBy", "get", "list", "applyUpdates"]);
  wrap(app.checkpoints, "checkpoints", ["get", "save"]);
  wrap(app.runs, "runs", ["get", "save"]);
  // Table requests per table (the adapters hold these same client objects).
  for (const [name, client] of Object.entries(app.tables)) if (client && typeof client === "object") wrap(client as object, `table:${name}`, ["getEntity", "submitTransaction", "updateEntity", "upsertEntity", "createEntity", "deleteEntity"]);

  const arrivals: Array<{ at: number; graphMs: number; entries: number }> = [];
  const asked: number[] = [];
  const done: number[] = [];
  const graphFor = app.graphFor.bind(app);
  app.graphFor = (tenant, secret, counters) => {
    const g = graphFor(tenant, secret, counters);
    const deltaPage = g.graph.deltaPage.bind(g.graph);
    g.graph.deltaPage = async (link, select) => {
      const s = performance.now();
      asked.push(s);
      const page = await deltaPage(link, select);
      arrivals.push({ at: performance.now(), graphMs: performance.now() - s, entries: page.entries.length });
      return page;
    };
    return g;
  };
  let start = performance.now();
  return {
    adapterMs,
    adapterCalls,
    pageDone: () => done.push(performance.now()),
    pages: () =>
      done.map((d, i) => {
        const arrived = arrivals[i]!;
        const prev = i === 0 ? start : done[i - 1]!;
        return { waitMs: Math.max(0, arrived.at - prev), processMs: d - Math.max(arrived.at, prev), graphMs: arrived.graphMs, entries: arrived.entries };
      }),
    graphIdleMs: () => ({
      between: sum(asked.slice(1).map((at, i) => Math.max(0, at - arrivals[i]!.at))),
      beforeFirst: asked.length ? asked[0]! - start : 0,
    }),
    begin: () => {
      start = performance.now();
    },
  };
}

await childMain();
