/**
 * Benchmark of Immutable ID sync: writes per second achieved against the simulator's throttle model (Graph's write
 * budget, 3,000 per 150 s per app and tenant, optionally with a scaled-down window: same rate, shorter wait) and
 * 100 ms latency per request, versus the ceiling the model allows for the workload (read from the simulator, not
 * typed in), and versus a serial one-PATCH-per-user loop over the same number of users, in the same run (two tenants
 * side by side, each with its own budget). The batched run goes through the queue worker with a short time budget,
 * so that it is split over many invocations (continuations) that share one write budget, as in Azure. Run alone:
 * `npx tsx bench/immutable-id.ts [--candidates=4000] [--latency=100] [--window-scale=0.1] [--invocation-seconds=48]`.
 */
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { onboardSimTenant } from "../dev/demo/onboard.js";
import { startLocalStack, type LocalStack } from "../dev/stack.js";
import { newGraphCounters } from "../src/graph/client.js";
import { SdkTenantGraph } from "../src/graph/sdk-graph.js";
import { requestRun } from "../src/functions/api.js";
import type { RunReport } from "../src/runs/report.js";
import { processSyncJob } from "../src/runs/worker.js";
import type { SyncJob } from "../src/queue/jobs.js";
import { createRun, executeRun } from "../src/runs/execute.js";
import type { Tenant } from "../src/tenants/model.js";

const SERIAL_USERS = 600;

const log = (s: string) => process.stderr.write(`[immutable-id bench] ${s}\n`);

async function makeTenant(stack: LocalStack, name: string, n: number): Promise<{ tenant: Tenant; ids: string[] }> {
  const ids = Array.from({ length: n }, () => randomUUID());
  const users = ids.map((id, i) => ({ id, userPrincipalName: `s${i}@${name}.onmicrosoft.com` }));
  const platformUsers = ids.map((id, i) => ({ id: `p-${i}`, tenantId: "x", externalId: id }));
  const { tenant } = await onboardSimTenant(stack, {
    displayName: name,
    users,
    platformUsers,
    managedDomain: `${name}.onmicrosoft.com`,
    registration: { immutableId: { mode: "on", source: "id", encoding: "base64", maxWritesPerRun: 1_000_000, maxPercentPerRun: 100, federatedDomains: "skip" } },
  });
  return { tenant, ids };
}

/** Runs the benchmark on a fresh local stack and returns its figures. */
export async function benchImmutableId(opts: { latencyMs: number; windowScale: number; candidates: number; invocationSeconds?: number }): Promise<Record<string, unknown>> {
  const { latencyMs, windowScale, candidates: n } = opts;
  const invocationSeconds = opts.invocationSeconds ?? 48 * windowScale * 10;
  const stack = await startLocalStack({ simulator: { latencyMs: 0, throttle: { windowScale } } });
  try {
    const batched = await makeTenant(stack, "batched", n);
    const serial = await makeTenant(stack, "serial", Math.min(n, SERIAL_USERS));
    // fresh matches for the batched tenant (update sync), at no latency: only the writes are measured
    const r = await createRun(stack.app, { tenantId: batched.tenant.tenantId, trigger: "manual", mode: "full", dryRun: false, only: ["update"] });
    await executeRun(stack.app, batched.tenant.tenantId, r.runId);
    stack.sim.control.setLatency(latencyMs);
    // fresh throttle buckets for both tenants (a new window)
    stack.sim.control.setThrottle({ windowScale });
    log(`${n} candidates per tenant, ${latencyMs} ms latency, throttle window scale ${windowScale}: batched and serial run side by side …`);

    const runBatched = async () => {
      const started = await requestRun(stack.app, batched.tenant.tenantId, JSON.stringify({ only: ["immutableId"] }));
      if (started.status !== 202) throw new Error(`the run was not queued: ${JSON.stringify(started.body)}`);
      const t0 = performance.now();
      let report: RunReport | undefined;
      let invocations = 0;
      for (;;) {
        const [m] = await stack.app.queue.receive(1, 600);
        if (!m) break;
        await stack.app.queue.delete(m.messageId, m.popReceipt);
        const r = await processSyncJob(stack.app, m.job as SyncJob, { budgetMs: invocationSeconds * 1000 });
        invocations++;
        if ("report" in r) report = r.report;
        log(`batched: invocation ${invocations} ${r.outcome}, ${report?.immutableId?.written ?? 0} written after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      if (!report) throw new Error("the batched run produced no report");
      return { report, invocations, seconds: (performance.now() - t0) / 1000 };
    };
    const runSerial = async () => {
      const counters = newGraphCounters();
      const { graph } = stack.app.graphFor(serial.tenant, await stack.app.secrets.get(serial.tenant.tenantId), counters);
      // The serial baseline sends one PATCH per round trip through the SDK client itself.
      if (!(graph instanceof SdkTenantGraph)) throw new Error("the bench needs the SDK adapter");
      const client = graph.client;
      const t0 = performance.now();
      let written = 0;
      // One PATCH per round trip: its rate is bound by latency, so 600 users tell it as well as more would.
      for (const [i, id] of serial.ids.slice(0, SERIAL_USERS).entries()) {
        await client.api(`/users/${id}`).patch({ onPremisesImmutableId: Buffer.from(`p-${i}`).toString("base64") });
        written++;
        if (written % 1000 === 0) log(`serial: ${written} written after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      return { written, counters, seconds: (performance.now() - t0) / 1000 };
    };
    const [b, s] = await Promise.all([runBatched(), runSerial()]);

    const written = b.report.immutableId?.written ?? 0;
    // The ceiling from the simulator's own model: its burst at once, the rest at its sustained rate, one round trip.
    const model = stack.sim.control.writeLimit();
    const ratePerS = model.writes / model.windowSeconds;
    const burst = model.writes;
    const minSeconds = Math.max(n - burst, 0) / ratePerS + latencyMs / 1000;
    const ceiling = n / minSeconds;
    // The write phase of the whole run, across its invocations and the gaps between them: from the first PATCH the
    // simulator served to the last (plus one round trip), the span the ceiling is counted over. Planning before the
    // first write is reported apart (batchedSeconds is the whole run, queue to end).
    const patches = stack.sim.control.requestLog().filter((e) => e.tenantId === batched.tenant.tenantId && e.method === "PATCH");
    const throttledWrites = patches.filter((e) => e.status === 429).length;
    const writeSeconds = patches.length ? (Date.parse(patches.at(-1)!.ts) - Date.parse(patches[0]!.ts)) / 1000 + latencyMs / 1000 : 0;
    const batchedRate = writeSeconds > 0 ? written / writeSeconds : 0;
    const serialRate = s.written / s.seconds;
    return {
      benchmark: "immutable-id",
      candidates: n,
      latencyMs,
      windowScale,
      note: windowScale === 1 ? `Graph's real window (${round(model.writes, 0)} writes per ${round(model.windowSeconds)} s, from the simulator's model)` : `window scaled by ${windowScale}: ${round(model.writes, 0)} writes per ${round(model.windowSeconds)} s — the same ${round(ratePerS)} writes/s, a shorter wait`,
      written,
      status: b.report.status,
      invocations: b.invocations,
      invocationSeconds,
      batchedSeconds: round(b.seconds),
      batchedWriteSeconds: round(writeSeconds),
      batchedWritesPerSecond: round(batchedRate),
      batchedWritesPerSecondWholeRun: round(written / b.seconds),
      ceilingWritesPerSecond: round(ceiling),
      sustainedCeilingWritesPerSecond: round(ratePerS),
      shareOfCeiling: round(batchedRate / ceiling, 3),
      throttledWrites,
      batchedGraph: { ...b.report.graph },
      serialWritten: s.written,
      serialSeconds: round(s.seconds),
      serialWritesPerSecond: round(serialRate),
      serialGraph: { ...s.counters },
      speedupOverSerial: round(batchedRate / serialRate),
    };
  } finally {
    await stack.stop();
  }
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string, dflt: number) => {
    const a = process.argv.find((x) => x.startsWith(`--${name}=`));
    return a ? Number(a.slice(name.length + 3)) : dflt;
  };
  benchImmutableId({ candidates: arg("candidates", 4000), latencyMs: arg("latency", 100), windowScale: arg("window-scale", 0.1), invocationSeconds: arg("invocation-seconds", 48) })
    .then((r) => {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      process.stdout.write(
        `\nImmutable ID sync: ${r.batchedWritesPerSecond} writes/s batched over ${r.invocations} invocations, ${r.throttledWrites} writes throttled, vs ceiling ${r.ceilingWritesPerSecond} (${Math.round(Number(r.shareOfCeiling) * 100)} %), serial one-PATCH-per-user ${r.serialWritesPerSecond} writes/s: ${r.speedupOverSerial}× (${r.note}).\n`,
      );
    })
    .catch((e: unknown) => {
      process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    });
}
