/**
 * Full read: a first update sync of a demo tenant (every user read from /users/delta, matched, the platform directory
 * updated, the connector space written), against a bound measured in the same run: a bare walk of the same tenant's
 * delta pages (same simulator, same latency, the simulator's own time per page included, nothing processed).
 */
import { PAGE_SIZE, log, round, runSyncInChild, seedDemoTenant, startBenchStack, timeSplit, walkPagesInChild, type ChildResult, type WalkResult } from "./common.js";

export interface FullReadResult {
  users: number;
  latencyMs: number;
  seconds: number;
  usersPerSecond: number;
  /** Users per second of the bare page walk (the bound). */
  boundUsersPerSecond: number;
  ratioToBound: number;
  walk: WalkResult & { seconds: number };
  /** Page size ÷ latency: the bound when the simulator's own time per page is left out (the old, optimistic bound). */
  latencyOnlyUsersPerSecond: number;
  /** Our CPU (the child's user + system) per user read, ms. */
  cpuMsPerUser: number;
  /** Every table request of the run (all tables, reads and list pages included). */
  tableRequests: number;
  pages: number;
  graphRequests: number;
  /** Requests the simulator saw from the run, by route (tokens and Key Vault included). */
  simByRoute: Record<string, number>;
  throttled: number;
  graphWaitSeconds: number;
  /**
   * Graph idle while the page chain waited on the run: between a page's answer and the next request, and before the
   * first request.
   */
  graphIdleSeconds: { between: number; beforeFirst: number };
  processSeconds: number;
  otherSeconds: number;
  medianProcessMsPerPage: number;
  medianGraphMsPerPage: number;
  rssBeforeMb: number;
  peakRssMb: number;
  /** Node options of the measured child (BENCH_CHILD_NODE_ARGS), "" for Node's defaults. */
  childNodeArgs: string;
  heapUsedPeakMb: number;
  updated: number;
  connectorTransactions: number;
  directoryWriteRoundTrips: number;
  adapterMs: Record<string, number>;
  adapterCalls: Record<string, number>;
  seedSeconds: number;
  cpuSeconds: ChildResult["cpuSeconds"];
  child: ChildResult;
}

export async function benchFullRead(o: { size: number; latencyMs: number }): Promise<FullReadResult> {
  const stack = await startBenchStack(o.latencyMs);
  try {
    const s0 = performance.now();
    log(`  full read: seeding a ${o.size.toLocaleString("en-US")}-user demo tenant …`);
    const { tenantId } = await seedDemoTenant(stack, o.size, 1);
    const seedSeconds = (performance.now() - s0) / 1000;
    log(`  full read: bare walk of the same tenant's delta pages (the bound) …`);
    const walk = await walkPagesInChild(stack, tenantId);
    stack.sim.control.resetStats();
    log(`  full read: syncing ${o.size.toLocaleString("en-US")} users (seeded in ${seedSeconds.toFixed(1)} s) …`);
    const r = await runSyncInChild(stack, tenantId, "full");
    const stats = stack.sim.control.stats();
    const split = timeSplit(r);
    const seconds = r.wallMs / 1000;
    const users = r.report.update.read;
    const bound = walk.users / (walk.wallMs / 1000);
    return {
      users,
      latencyMs: o.latencyMs,
      seconds: round(seconds, 2),
      usersPerSecond: round(users / seconds),
      boundUsersPerSecond: round(bound),
      ratioToBound: round(users / seconds / bound, 3),
      walk: { ...walk, seconds: round(walk.wallMs / 1000, 2), wallMs: round(walk.wallMs), medianPageMs: round(walk.medianPageMs, 1), rssMaxMb: round(walk.rssMaxMb) },
      latencyOnlyUsersPerSecond: PAGE_SIZE / (o.latencyMs / 1000),
      cpuMsPerUser: round((r.cpuSeconds.entraSync * 1000) / Math.max(1, users), 3),
      tableRequests: r.tableRequests,
      pages: r.report.progress.pages,
      graphRequests: r.report.graph.requests,
      simByRoute: stats.byRoute,
      throttled: stats.throttled,
      graphWaitSeconds: round(split.graphWaitMs / 1000, 2),
      graphIdleSeconds: { between: round(r.graphIdleMs.between / 1000, 2), beforeFirst: round(r.graphIdleMs.beforeFirst / 1000, 2) },
      processSeconds: round(split.processMs / 1000, 2),
      otherSeconds: round(split.otherMs / 1000, 2),
      medianProcessMsPerPage: round(split.medianProcessMs, 1),
      medianGraphMsPerPage: round(split.medianGraphMs, 1),
      rssBeforeMb: round(r.rss.beforeMb),
      peakRssMb: round(r.rss.maxRssMb),
      childNodeArgs: r.nodeArgs,
      heapUsedPeakMb: round(r.rss.heapUsedPeakMb),
      updated: r.report.update.updated,
      connectorTransactions: r.connectorTransactions,
      directoryWriteRoundTrips: r.directoryWriteRoundTrips,
      adapterMs: Object.fromEntries(Object.entries(r.adapterMs).map(([k, v]) => [k, round(v)])),
      adapterCalls: r.adapterCalls,
      seedSeconds: round(seedSeconds, 1),
      cpuSeconds: { entraSync: round(r.cpuSeconds.entraSync, 1), simulator: round(r.cpuSeconds.simulator, 1), azurite: round(r.cpuSeconds.azurite, 1) },
      child: r,
    };
  } finally {
    await stack.stop();
  }
}
