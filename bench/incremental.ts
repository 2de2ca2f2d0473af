/**
 * Incremental: after a first sync, change users in Entra and run an incremental update sync. Three cases on one stack
 * show what the cost follows: the same number of changes on a tenant 10× larger costs the same; 10× fewer changes on
 * the same tenant cost about 10× less (down to the one delta page every round needs).
 */
import type { LocalStack } from "../dev/stack.js";
import { changeUsers, type DemoTenant } from "../dev/demo/generate.js";
import { log, round, runSyncInChild, seedDemoTenant, startBenchStack, sum, timeSplit, type ChildResult } from "./common.js";

export interface IncrementalCase {
  name: string;
  tenantUsers: number;
  changedUsers: number;
  /** Users the run read from the delta (= changed users; a user changed twice counts once). */
  read: number;
  updated: number;
  seconds: number;
  graphRequests: number;
  deltaPages: number;
  /** Table requests of the run (every kind, all tables), counted at the table clients. */
  tableRequests: number;
  msPerChangedUser: number;
  graphWaitSeconds: number;
  processSeconds: number;
  connectorTransactions: number;
  directoryWriteRoundTrips: number;
  adapterCalls: Record<string, number>;
  child: ChildResult;
}

export interface IncrementalResult {
  size: number;
  latencyMs: number;
  initialSyncSeconds: Record<string, number>;
  cases: IncrementalCase[];
}

export async function benchIncremental(o: { size: number; latencyMs: number }): Promise<IncrementalResult> {
  const stack = await startBenchStack(o.latencyMs);
  try {
    const big = o.size;
    const small = Math.round(o.size / 10);
    log(`  incremental: seeding tenants of ${big.toLocaleString("en-US")} and ${small.toLocaleString("en-US")} users and syncing them once …`);
    const a = await seedDemoTenant(stack, big, 11);
    const b = await seedDemoTenant(stack, small, 12);
    const initialSyncSeconds: Record<string, number> = {};
    for (const t of [a, b]) {
      const r = await runSyncInChild(stack, t.tenantId, "full");
      initialSyncSeconds[String(t.demo.entraUsers.length)] = round(r.wallMs / 1000, 1);
    }
    const cases: IncrementalCase[] = [];
    const oneIn100 = Math.round(big / 100);
    cases.push(await runCase(stack, `1 % of ${big.toLocaleString("en-US")}`, a, oneIn100, 101));
    cases.push(await runCase(stack, `same changes, tenant 10× smaller`, b, oneIn100, 102));
    cases.push(await runCase(stack, `10× fewer changes, same tenant`, a, Math.round(big / 1000), 103));
    return { size: o.size, latencyMs: o.latencyMs, initialSyncSeconds, cases };
  } finally {
    await stack.stop();
  }
}

async function runCase(stack: LocalStack, name: string, t: { tenantId: string; demo: DemoTenant }, count: number, seed: number): Promise<IncrementalCase> {
  const changes = changeUsers(t.demo, count, seed);
  for (const c of changes) stack.sim.control.updateUser(t.tenantId, c.id, c.patch);
  log(`  incremental: ${name}: ${changes.length} changed users on a ${t.demo.entraUsers.length.toLocaleString("en-US")}-user tenant …`);
  const r = await runSyncInChild(stack, t.tenantId, "incremental");
  const split = timeSplit(r);
  const tableRequests = sum(Object.entries(r.adapterCalls).filter(([k]) => k.startsWith("table:")).map(([, v]) => v));
  return {
    name,
    tenantUsers: t.demo.entraUsers.length,
    changedUsers: changes.length,
    read: r.report.update.read,
    updated: r.report.update.updated,
    seconds: round(r.wallMs / 1000, 2),
    graphRequests: r.report.graph.requests,
    deltaPages: r.report.progress.pages,
    tableRequests,
    msPerChangedUser: round(r.wallMs / Math.max(1, changes.length), 1),
    graphWaitSeconds: round(split.graphWaitMs / 1000, 2),
    processSeconds: round(split.processMs / 1000, 2),
    connectorTransactions: r.connectorTransactions,
    directoryWriteRoundTrips: r.directoryWriteRoundTrips,
    adapterCalls: r.adapterCalls,
    child: r,
  };
}
