/**
 * What the benchmarks share: arguments, the machine, the local stack with Graph's throttle model and a fixed latency,
 * demo tenants, and running one entra-sync run in a CHILD process (so its peak RSS is entra-sync's own, not the
 * simulator's or Azurite's) with per-page timing of where the time goes (Graph wait vs our own processing).
 *
 * The instrumentation wraps the app's adapters from the outside (bench code only): nothing in src/ knows about it.
 */
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { App } from "../src/composition.js";
import type { RunMode, RunReport } from "../src/runs/report.js";
import type { DemoTenant } from "../dev/demo/generate.js";
import { onboardDemoSchool } from "../dev/demo/onboard.js";
import { startLocalStack, type LocalStack } from "../dev/stack.js";

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const PAGE_SIZE = 200;

export interface BenchArgs {
  filter: string | undefined;
  size: number;
  latencyMs: number;
  /** Fleet workload: tenants × users per tenant (default 100 × 200; the large fleet is 1,000 × 2,000). */
  fleetTenants: number;
  fleetUsers: number;
  /** Fleet: stop after onboarding (registrations, secrets, directories), to measure it alone. */
  fleetOnboardOnly: boolean;
  /** Fleet: tenants' directories (partitions) seeded at once, one transaction in flight each (default 16). */
  fleetSeedLanes: number;
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const out: BenchArgs = { filter: undefined, size: 10_000, latencyMs: 100, fleetTenants: 100, fleetUsers: 200, fleetOnboardOnly: false, fleetSeedLanes: 16 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (name: string): number => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${name} needs a non-negative number, got ${String(v)}`);
      return n;
    };
    if (a === "--size" || a.startsWith("--size=")) out.size = Math.floor(value("--size"));
    else if (a === "--latency" || a.startsWith("--latency=")) out.latencyMs = value("--latency");
    else if (a === "--fleet-tenants" || a.startsWith("--fleet-tenants=")) out.fleetTenants = Math.max(1, Math.floor(value("--fleet-tenants")));
    else if (a === "--fleet-users" || a.startsWith("--fleet-users=")) out.fleetUsers = Math.max(10, Math.floor(value("--fleet-users")));
    else if (a === "--fleet-onboard-only") out.fleetOnboardOnly = true;
    else if (a === "--fleet-seed-lanes" || a.startsWith("--fleet-seed-lanes=")) out.fleetSeedLanes = Math.max(1, Math.floor(value("--fleet-seed-lanes")));
    else if (!a.startsWith("--")) out.filter = a;
    else throw new Error(`unknown option ${a}`);
  }
  if (out.size < 1000) throw new Error("--size must be at least 1000");
  return out;
}

export interface Machine {
  cores: number;
  cpu: string;
  node: string;
  platform: string;
  memoryGb: number;
  date: string;
}

export function machine(): Machine {
  return {
    cores: os.availableParallelism?.() ?? os.cpus().length,
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

/**
 * Azurite + the simulator with Graph's throttle model ON and a fixed latency per request (token, Graph, Key Vault).
 * Azurite has keyed lookups (dev/azurite-keyed-lookup.cjs) unless `stockAzurite`: stock Azurite scans a whole
 * partition for every keyed read or write, which would make the bench measure LokiJS instead of entra-sync.
 */
export function startBenchStack(latencyMs: number, o: { stockAzurite?: boolean } = {}): Promise<LocalStack> {
  return startLocalStack({ simulator: { latencyMs, pageSize: PAGE_SIZE }, workDir: path.resolve(".local/bench"), azuriteKeyedLookups: !o.stockAzurite });
}

/** A demo tenant (generate.ts) registered through the CLI's code with its platform directory seeded (onboard.ts). */
export async function seedDemoTenant(stack: LocalStack, size: number, seed: number): Promise<{ tenantId: string; demo: DemoTenant }> {
  const { tenant, demo } = await onboardDemoSchool(stack, { size, seed });
  return { tenantId: tenant.tenantId, demo };
}

// ---------------------------------------------------------------------------------------------------------------
// One run in a child process

export interface PageTiming {
  /** ms the sync loop waited for this page after it finished the previous one (0 when the prefetch had it ready). */
  waitMs: number;
  /** ms from having the page to having saved its checkpoint (our own work: tables + CPU). */
  processMs: number;
  /** ms of the Graph round trip of this page (request sent → body parsed), overlapped with processing. */
  graphMs: number;
  entries: number;
}

export interface ChildResult {
  report: RunReport;
  /** executeRun wall time. */
  wallMs: number;
  pages: PageTiming[];
  /** Time spent inside each adapter call, summed (ms). */
  adapterMs: Record<string, number>;
  /** Calls per adapter method. */
  adapterCalls: Record<string, number>;
  rss: {
    /** RSS before the run (Node + tsx + the loaded modules). */
    beforeMb: number;
    /** Highest `process.memoryUsage().rss` sampled every 250 ms. */
    sampledPeakMb: number;
    /** The kernel's high-water mark for the process (`process.resourceUsage().maxRSS`). */
    maxRssMb: number;
    heapUsedPeakMb: number;
  };
  /** Every HTTP request the run sent to Table Storage (reads, list pages, writes, transactions; all tables), counted in the SDK's pipeline. */
  tableRequests: number;
  tableRequestsByTable: Record<string, number>;
  /** Table transactions of the connector space and write round trips of the platform directory in this run. */
  connectorTransactions: number;
  directoryWriteRoundTrips: number;
  /** CPU seconds (user + system) during the run: this child (entra-sync), the simulator's process, Azurite. */
  cpuSeconds: { entraSync: number; simulator: number; azurite: number };
  /**
   * How late the child's event loop ran what was due (`monitorEventLoopDelay`, 10 ms resolution): a page's answer
   * waits this long before it is parsed and the next page asked for.
   */
  loopDelayMs: { p50: number; p99: number; max: number; mean: number };
  /**
   * Delta pages are asked for one at a time: the time between a page's answer reaching the run and the next page's
   * request leaving it, summed (Graph idle while the chain waits on the run), and the time before the first request.
   */
  graphIdleMs: { between: number; beforeFirst: number };
}

export interface ChildJob {
  env: Record<string, string>;
  caFile: string;
  tenantId: string;
  mode: RunMode;
  /** `scheduled`: the run the scheduler starts (both steps, the tenant's modes), worked on by the queue worker. */
  /** `update` (default): an update-only run; `scheduled`: the run the scheduler starts (both steps, the tenant's modes), worked on by the queue worker. */
  /** "walk": only read every delta page of a new round (the bound a full read is measured against). */
  kind?: "update" | "scheduled" | "walk";
}

/** A bare page walk: every page of a new /users/delta round, read back to back with nothing done with them. */
export interface WalkResult {
  /** From reading the tenant's secret to the last page (token and Key Vault included, as in a run). */
  wallMs: number;
  pages: number;
  users: number;
  /** Median round trip of one page (request sent → body parsed). */
  medianPageMs: number;
  rssMaxMb: number;
}

/** Where `tsc` puts the measured child (bench/child.ts and src/, as JavaScript): inside the repo, so node_modules resolve. */
const CHILD_OUT = path.resolve(BENCH_DIR, "../.cache/bench-child");
let childBuilt = false;

/**
 * Compiles bench/child.ts and src/ with `tsc` (tsconfig.bench-child.json), once per bench process: the measured runs
 * execute JavaScript as the deployed app does (`npm run build` output), not tsx's transpiler, whose own modules and
 * source maps were a fifth of the child's RSS.
 */
function ensureChildBuilt(): string {
  if (!childBuilt) {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    execFileSync(process.execPath, [tsc, "-p", path.resolve(BENCH_DIR, "../tsconfig.bench-child.json")], { stdio: "inherit" });
    childBuilt = true;
  }
  return path.join(CHILD_OUT, "bench/child.js");
}

function spawnChild(job: ChildJob, extraNodeArgs: readonly string[] = []): Promise<string> {
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each child run there (what the README's profiles came from).
  const prof = process.env.BENCH_CPU_PROF && job.kind !== "walk" ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
  // The Node options the deployed app's worker gets (app setting languageWorkers__node__arguments, from
  // infra/node-arguments.json), unless BENCH_CHILD_NODE_ARGS gives others ("" for Node's defaults).
  const envArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? deployedNodeArguments()).split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...prof, ...envArgs, ...extraNodeArgs, ensureChildBuilt()], { stdio: ["pipe", "pipe", "inherit"] });
  child.stdin.end(JSON.stringify(job));
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  return new Promise<string>((resolve, reject) =>
    child.once("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
      if (code !== 0 || !line) reject(new Error(`bench child exited with ${code}: ${out.slice(-2000)}`));
      else resolve(line.slice("BENCH_RESULT ".length));
    }),
  );
}

/**
 * The bound of a full read, measured: the same tenant's delta pages read one after the other from the same simulator
 * (same latency, same page size, the simulator's own time per page included) by the same Graph client in a child
 * process of its own, with nothing done with them.
 */
export async function walkPagesInChild(stack: LocalStack, tenantId: string): Promise<WalkResult> {
  return JSON.parse(await spawnChild({ env: stack.env, caFile: stack.caFile, tenantId, mode: "full", kind: "walk" })) as WalkResult;
}

/**
 * Runs one update-sync run (createRun + executeRun) of a tenant in a child process on the same stack and returns its
 * report, per-page timings and the child's peak RSS. The simulator stays in this process, Azurite in its own.
 */
export async function runSyncInChild(stack: LocalStack, tenantId: string, mode: RunMode, o: { kind?: "update" | "scheduled"; nodeArgs?: readonly string[] } = {}): Promise<ChildResult & { nodeArgs: string }> {
  const job: ChildJob = { env: stack.env, caFile: stack.caFile, tenantId, mode, kind: o.kind ?? "update" };
  const simCpu0 = process.cpuUsage();
  const azCpu0 = azuriteCpuSeconds();
  const result = JSON.parse(await spawnChild(job, o.nodeArgs)) as ChildResult & { nodeArgs: string };
  result.nodeArgs = [process.env.BENCH_CHILD_NODE_ARGS ?? deployedNodeArguments(), ...(o.nodeArgs ?? [])].join(" ").trim();
  const simCpu = process.cpuUsage(simCpu0);
  result.cpuSeconds.simulator = (simCpu.user + simCpu.system) / 1e6;
  result.cpuSeconds.azurite = azuriteCpuSeconds() - azCpu0;
  if (result.report.status === "failed") throw new Error(`the run failed: ${JSON.stringify(result.report.failure)}`);
  return result;
}

export interface TableTraffic {
  requests: number;
  /** Entities touched: each operation of a transaction, each entity a query page returned, one per single read or write. */
  rows: number;
  byTable: Record<string, { requests: number; rows: number }>;
}

/**
 * Counts the requests and rows every table client of an app sends and gets, in the SDK's own pipeline (a policy:
 * nothing in src/ knows). Used in-process (fleet), where the scheduler and the workers share the app.
 */
export function countTableTraffic(app: App): { reset(): void; snapshot(): TableTraffic } {
  let byTable: TableTraffic["byTable"] = {};
  const ops = /^(?:POST|PUT|PATCH|MERGE|DELETE) \S+ HTTP\/1\.1/gm;
  for (const [name, client] of Object.entries(app.tables)) {
    const pipeline = (client as { pipeline?: { addPolicy(p: { name: string; sendRequest: (r: { url: string; method: string; body?: unknown }, next: (r: unknown) => Promise<{ status: number; bodyAsText?: string | null }>) => Promise<unknown> }): void } }).pipeline;
    pipeline?.addPolicy({
      name: `benchTraffic-${name}`,
      sendRequest: async (req, next) => {
        const res = await next(req);
        let rows = res.status < 300 ? 1 : 0;
        if (req.url.includes("$batch")) rows = typeof req.body === "string" ? (req.body.match(ops) ?? []).length : 1;
        else if (req.method === "GET" && res.bodyAsText && res.bodyAsText.startsWith("{")) {
          try {
            const v = (JSON.parse(res.bodyAsText) as { value?: unknown }).value;
            if (Array.isArray(v)) rows = v.length;
          } catch {
            // not JSON: one row
          }
        }
        const t = (byTable[name] ??= { requests: 0, rows: 0 });
        t.requests++;
        t.rows += rows;
        return res;
      },
    });
  }
  return {
    reset: () => {
      byTable = {};
    },
    snapshot: () => ({ requests: sum(Object.values(byTable).map((t) => t.requests)), rows: sum(Object.values(byTable).map((t) => t.rows)), byTable: structuredClone(byTable) }),
  };
}

/** The Node options the template gives the deployed worker (`languageWorkers__node__arguments`). */
export function deployedNodeArguments(): string {
  const file = path.resolve(BENCH_DIR, "../infra/node-arguments.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { languageWorkersNodeArguments: string }).languageWorkersNodeArguments;
}

/** The pid of the Azurite child of this process (Linux /proc; undefined elsewhere or when none runs). */
function azuritePid(): string | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc");
  } catch {
    return undefined; // not Linux
  }
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue;
    // Other processes start and end meanwhile (a shared machine): one that is gone is skipped, not the answer.
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[1]) !== process.pid) continue;
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("azurite/dist")) continue;
      return pid;
    } catch {
      continue;
    }
  }
  return undefined;
}

/** CPU seconds used so far by the Azurite child of this process (Linux /proc; 0 elsewhere). */
export function azuriteCpuSeconds(): number {
  const pid = azuritePid();
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** The Azurite child's resident memory now and its high-water mark, in MiB (VmRSS, VmHWM; zeros where unknown). */
export function azuriteMemoryMb(): { rssMb: number; hwmMb: number } {
  return procMemoryMb(azuritePid());
}

/** A process's VmRSS and VmHWM in MiB from /proc (zeros where unknown); this process when no pid is given. */
export function procMemoryMb(pid: string | undefined = String(process.pid)): { rssMb: number; hwmMb: number } {
  if (!pid) return { rssMb: 0, hwmMb: 0 };
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    return { rssMb: Math.round(kb("VmRSS") / 1024), hwmMb: Math.round(kb("VmHWM") / 1024) };
  } catch {
    return { rssMb: 0, hwmMb: 0 };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

export const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
export const round = (n: number, d = 0) => Math.round(n * 10 ** d) / 10 ** d;

/** Where the wall time of a child run went, from its page timings and adapter timings. */
export function timeSplit(r: ChildResult): { graphWaitMs: number; processMs: number; medianProcessMs: number; medianGraphMs: number; otherMs: number } {
  const graphWaitMs = sum(r.pages.map((p) => p.waitMs));
  const processMs = sum(r.pages.map((p) => p.processMs));
  return {
    graphWaitMs,
    processMs,
    medianProcessMs: median(r.pages.map((p) => p.processMs)),
    medianGraphMs: median(r.pages.map((p) => p.graphMs)),
    otherMs: r.wallMs - graphWaitMs - processMs,
  };
}

/** A plain-text table: header row, then rows; numbers right-aligned. */
export function formatTable(rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? c.toLocaleString("en-US") : c)));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (typeof rows[cells.indexOf(r)]?.[i] === "number" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ");
  const out = cells.map(line);
  out.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  return out.join("\n");
}

export const log = (s: string) => process.stderr.write(`${s}\n`);
