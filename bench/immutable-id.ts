/**
 * Benchmark of Immutable ID sync: writes per second achieved against the simulator's throttle model (Graph's write
 * budget, 3,000 per 150 s per app and tenant, optionally with a scaled-down window: same rate, shorter wait) and
 * 100 ms latency per request, versus the ceiling the model allows for the workload, and versus a serial
 * one-PATCH-per-user loop over the same number of users, in the same run (two tenants side by side, each with its
 * own budget). Run alone: `npx tsx bench/immutable-id.ts [--candidates=4000] [--latency=100] [--window-scale=0.1]`.
 */
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { onboardSimTenant } from "../dev/demo/onboard.js";
import { startLocalStack, type LocalStack } from "../dev/stack.js";
import { newGraphCounters } from "../src/graph/client.js";
import { runImmutableIdSync } from "../src/immutable-id/step.js";
import { scaledWriteBudget } from "../src/immutable-id/write-budget.js";
import { newReport, newRunId } from "../src/runs/report.js";
import { createRun, executeRun } from "../src/sync/run.js";
import type { Tenant } from "../src/tenants/model.js";

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
export async function benchImmutableId(opts: { latencyMs: number; windowScale: number; candidates: number }): Promise<Record<string, unknown>> {
  const { latencyMs, windowScale, candidates: n } = opts;
  const stack = await startLocalStack({ simulator: { latencyMs: 0, throttle: { windowScale } } });
  try {
    const batched = await makeTenant(stack, "batched", n);
    const serial = await makeTenant(stack, "serial", n);
    // fresh matches for the batched tenant (update sync), at no latency: only the writes are measured
    const r = await createRun(stack.app, { tenantId: batched.tenant.tenantId, trigger: "manual", mode: "full", dryRun: false, only: ["update"] });
    await executeRun(stack.app, batched.tenant.tenantId, r.runId);
    stack.sim.control.setLatency(latencyMs);
    // fresh throttle buckets for both tenants (a new window)
    stack.sim.control.setThrottle({ windowScale });
    log(`${n} candidates per tenant, ${latencyMs} ms latency, throttle window scale ${windowScale}: batched and serial run side by side …`);

    const budget = scaledWriteBudget(windowScale);
    const runBatched = async () => {
      const report = newReport({ runId: newRunId(new Date()), tenantId: batched.tenant.tenantId, tenantName: "batched", trigger: "manual", mode: "incremental", dryRun: false, only: ["immutableId"], now: new Date() });
      const counters = newGraphCounters();
      const { client } = stack.app.graphFor(batched.tenant, await stack.app.secrets.get(batched.tenant.tenantId), counters);
      const t0 = performance.now();
      let last = t0;
      await runImmutableIdSync(stack.app, batched.tenant, report, {
        graph: client,
        counters,
        budget,
        onProgress: (rep) => {
          if (performance.now() - last > 15_000) {
            last = performance.now();
            log(`batched: ${rep.immutableId?.written ?? 0} written after ${((last - t0) / 1000).toFixed(0)} s`);
          }
        },
      });
      return { report, counters, seconds: (performance.now() - t0) / 1000 };
    };
    const runSerial = async () => {
      const counters = newGraphCounters();
      const { client } = stack.app.graphFor(serial.tenant, await stack.app.secrets.get(serial.tenant.tenantId), counters);
      const t0 = performance.now();
      let written = 0;
      for (const [i, id] of serial.ids.entries()) {
        await client.api(`/users/${id}`).patch({ onPremisesImmutableId: Buffer.from(`p-${i}`).toString("base64") });
        written++;
        if (written % 1000 === 0) log(`serial: ${written} written after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      return { written, counters, seconds: (performance.now() - t0) / 1000 };
    };
    const [b, s] = await Promise.all([runBatched(), runSerial()]);

    const written = b.report.immutableId?.written ?? 0;
    const ratePerS = 3000 / 150; // the model's sustained rate, whatever the scale
    const burst = Math.round(3000 * windowScale);
    // Fastest possible for N writes from a fresh window: the burst at once, the rest at the sustained rate.
    const minSeconds = Math.max(n - burst, 0) / ratePerS + (latencyMs / 1000);
    const ceiling = n / minSeconds;
    // The write phase (re-reads and PATCHes) as the step measured it; planning is reported apart.
    const batchedRate = b.report.immutableId?.writesPerSecond ?? 0;
    const writeSeconds = batchedRate > 0 ? written / batchedRate : 0;
    const serialRate = s.written / s.seconds;
    return {
      benchmark: "immutable-id",
      candidates: n,
      latencyMs,
      windowScale,
      note: windowScale === 1 ? "Graph's real window (3,000 writes per 150 s)" : `window scaled by ${windowScale}: ${burst} writes per ${150 * windowScale} s — the same 20 writes/s, a shorter wait`,
      written,
      batchedSeconds: round(b.seconds),
      batchedWriteSeconds: round(writeSeconds),
      batchedPlanSeconds: round(b.seconds - writeSeconds),
      batchedWritesPerSecond: round(batchedRate),
      ceilingWritesPerSecond: round(ceiling),
      sustainedCeilingWritesPerSecond: ratePerS,
      shareOfCeiling: round(batchedRate / ceiling, 3),
      batchedGraph: { ...b.counters },
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
  benchImmutableId({ candidates: arg("candidates", 4000), latencyMs: arg("latency", 100), windowScale: arg("window-scale", 0.1) })
    .then((r) => {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      process.stdout.write(
        `\nImmutable ID sync: ${r.batchedWritesPerSecond} writes/s batched vs ceiling ${r.ceilingWritesPerSecond} (${Math.round(Number(r.shareOfCeiling) * 100)} %), serial one-PATCH-per-user ${r.serialWritesPerSecond} writes/s: ${r.speedupOverSerial}× (${r.note}).\n`,
      );
    })
    .catch((e: unknown) => {
      process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    });
}
