/**
 * Platform directory writes: table round trips per changed user, for a first sync and an incremental one, against one
 * write per user (the naive way). The directory adapter counts `writeRoundTrips` (user and index transactions, and
 * single writes where a transaction met a concurrent change); the connector space counts `transactions`. The naive
 * way is also timed side by side on the same Azurite: the same connector rows written one upsert each.
 */
import { changeUsers, generateDemoTenant } from "../dev/demo/generate.js";
import { ConnectorSpace, type ConnectorRow } from "../src/connector/space.js";
import { mapLimit } from "../src/util/concurrency.js";
import { log, round, runSyncInChild, seedDemoTenant, startBenchStack, type ChildResult } from "./common.js";

export interface WritesRow {
  round: string;
  tenantUsers: number;
  /** Connector rows written (every user on the delta pages). */
  connectorRows: number;
  connectorTransactions: number;
  /** Platform users updated (attribute changes and removal marks). */
  directoryUpdates: number;
  directoryWriteRoundTrips: number;
  /** Write round trips per changed user, ours vs naive (1 per connector row + 1 per platform update, index edits not even counted). */
  perChangedUser: number;
  /** Every table request of the run (reads, list pages, checkpoints and run reports included; all tables). */
  tableRequests: number;
  /** tableRequests per changed user: what the run costs in table round trips all told. */
  tableRequestsPerChangedUser: number;
  naivePerChangedUser: number;
  /** naive ÷ ours. */
  ratio: number;
}

export interface NaiveTiming {
  rows: number;
  batchedTransactions: number;
  batchedSeconds: number;
  naiveRequests: number;
  naiveSeconds: number;
  /** naive seconds ÷ batched seconds. */
  ratio: number;
}

export interface PlatformWritesResult {
  rows: WritesRow[];
  naiveTiming: NaiveTiming;
}

/** `reuse`: the child results of a first sync and of an incremental run already measured in this bench run. */
export async function benchPlatformWrites(o: { size: number; latencyMs: number; reuse?: { initial: ChildResult; incremental: ChildResult; tenantUsers: number } | undefined }): Promise<PlatformWritesResult> {
  const stack = await startBenchStack(o.latencyMs);
  try {
    let initial: ChildResult;
    let incremental: ChildResult;
    let tenantUsers: number;
    if (o.reuse) {
      ({ initial, incremental, tenantUsers } = o.reuse);
      log(`  platform writes: counts from the full-read and incremental runs above`);
    } else {
      log(`  platform writes: seeding a ${o.size.toLocaleString("en-US")}-user tenant, first sync, then 1 % changed …`);
      const t = await seedDemoTenant(stack, o.size, 21);
      tenantUsers = t.demo.entraUsers.length;
      initial = await runSyncInChild(stack, t.tenantId, "full");
      for (const c of changeUsers(t.demo, Math.round(o.size / 100), 22)) stack.sim.control.updateUser(t.tenantId, c.id, c.patch);
      incremental = await runSyncInChild(stack, t.tenantId, "incremental");
    }
    const rows = [row("first sync (full read)", tenantUsers, initial), row("incremental, 1 % changed", tenantUsers, incremental)];

    // Side by side on the same Azurite: connector rows in transactions (putMany) vs one upsert per row.
    const n = Math.min(2000, o.size / 5);
    const demo = generateDemoTenant({ seed: 23, size: n, tenantId: "bench-writes" });
    const toRows = (): ConnectorRow[] => demo.entraUsers.map((u) => ({ id: u.id, user: { ...u }, match: "matched", seenAt: new Date().toISOString() }));
    const space = new ConnectorSpace(stack.app.tables.connectorSpace);
    log(`  platform writes: ${n.toLocaleString("en-US")} connector rows, batched vs one upsert each …`);
    let s = performance.now();
    await space.putMany("bench-batched", toRows());
    const batchedSeconds = (performance.now() - s) / 1000;
    const naive = toRows();
    s = performance.now();
    // Same concurrency as putMany's transactions (8 in flight), same entity shape, one request per row.
    await mapLimit(naive, 8, (r, i) => stack.app.tables.connectorSpace.upsertEntity({ partitionKey: `bench-naive_${i % 4}`, rowKey: r.id, user: JSON.stringify(r.user), match: "matched", seenAt: r.seenAt }, "Replace"));
    const naiveSeconds = (performance.now() - s) / 1000;
    return {
      rows,
      naiveTiming: { rows: n, batchedTransactions: space.transactions, batchedSeconds: round(batchedSeconds, 2), naiveRequests: n, naiveSeconds: round(naiveSeconds, 2), ratio: round(naiveSeconds / batchedSeconds, 1) },
    };
  } finally {
    await stack.stop();
  }
}

function row(name: string, tenantUsers: number, r: ChildResult): WritesRow {
  const connectorRows = r.report.update.read + r.report.update.removed;
  const directoryUpdates = r.report.update.updated + r.report.update.removed;
  const changed = Math.max(1, connectorRows);
  const ours = (r.connectorTransactions + r.directoryWriteRoundTrips) / changed;
  const naive = (connectorRows + directoryUpdates) / changed;
  return {
    round: name,
    tenantUsers,
    connectorRows,
    connectorTransactions: r.connectorTransactions,
    directoryUpdates,
    directoryWriteRoundTrips: r.directoryWriteRoundTrips,
    perChangedUser: round(ours, 3),
    tableRequests: r.tableRequests,
    tableRequestsPerChangedUser: round(r.tableRequests / changed, 3),
    naivePerChangedUser: round(naive, 2),
    ratio: round(naive / ours, 1),
  };
}
