/**
 * Scheduled: the run the scheduler starts — both steps, each in the tenant's default mode (Immutable ID sync in
 * `preview`), worked on by the queue worker — after 1 % of a tenant's users changed, beside an update-only run of the
 * same changes on a twin tenant (same generated users), and a scheduled run with no change at all. Every bound is
 * computed in the same run from the number of changes.
 */
import { changeUsers } from "../dev/demo/generate.js";
import { log, PAGE_SIZE, round, runSyncInChild, seedDemoTenant, startBenchStack, type ChildResult } from "./common.js";

/** Table requests a scheduled run may send: this many per changed user, plus a constant for the run itself. */
export const TABLE_REQUESTS_PER_CHANGE = 8;
export const TABLE_REQUESTS_PER_RUN = 100;
/** Rows a scheduled run with no change may read: the run's own bookkeeping, whatever the tenant's size. */
export const NO_CHANGE_ROWS = 64;

export interface ScheduledRunFigures {
  seconds: number;
  graphRequests: number;
  tableRequests: number;
  tableRowsRead: number;
  cpuMs: number;
  peakRssMb: number;
  planning?: string | undefined;
}

export interface ScheduledResult {
  size: number;
  latencyMs: number;
  changed: number;
  scheduled: ScheduledRunFigures;
  updateOnly: ScheduledRunFigures;
  noChange: ScheduledRunFigures;
  graphBound: number;
  tableBound: number;
  wallRatio: number;
  /** The first scheduled run after the full sync (it builds the Immutable ID candidate state in full, once). */
  firstScheduled: ScheduledRunFigures;
  /** Above 10,000 users: the same first run of a 10,000-user tenant in the same bench run, and the peak's ratio. */
  firstScheduledAt10k?: ScheduledRunFigures | undefined;
  firstPeakRatio?: number | undefined;
}

/** The tenant size the first scheduled run of a larger tenant is compared with (its peak within 20 % of this one's). */
export const FIRST_RUN_BASE = 10_000;

const figures = (r: ChildResult): ScheduledRunFigures => ({
  seconds: round(r.wallMs / 1000, 2),
  graphRequests: r.report.graph.requests,
  tableRequests: r.report.metrics?.tableRequests ?? 0,
  tableRowsRead: r.report.metrics?.tableRowsRead ?? 0,
  cpuMs: r.report.metrics?.cpuMs ?? 0,
  peakRssMb: r.report.metrics?.peakRssMb ?? 0,
  planning: r.report.immutableId?.planning ? `${r.report.immutableId.planning.kind}${r.report.immutableId.planning.reason ? ` (${r.report.immutableId.planning.reason})` : ""}${r.report.immutableId.planning.evaluated !== undefined ? `, ${r.report.immutableId.planning.evaluated} looked at` : ""}` : undefined,
});

export async function benchScheduled(o: { size: number; latencyMs: number }): Promise<ScheduledResult> {
  const stack = await startBenchStack(o.latencyMs);
  try {
    let base: ChildResult | undefined;
    if (o.size > FIRST_RUN_BASE) {
      log(`  scheduled: a ${FIRST_RUN_BASE.toLocaleString("en-US")}-user tenant synced in full, then its first scheduled run (the base of the comparison) …`);
      const small = await seedDemoTenant(stack, FIRST_RUN_BASE, 21);
      await runSyncInChild(stack, small.tenantId, "full");
      base = await runSyncInChild(stack, small.tenantId, "incremental", { kind: "scheduled" });
    }
    log(`  scheduled: seeding twin tenants of ${o.size.toLocaleString("en-US")} users and syncing them in full …`);
    const a = await seedDemoTenant(stack, o.size, 21);
    const b = await seedDemoTenant(stack, o.size, 21);
    for (const t of [a, b]) await runSyncInChild(stack, t.tenantId, "full");
    // The first scheduled run after the full sync re-plans Immutable ID in full (no candidate state yet).
    log(`  scheduled: first scheduled run (builds the Immutable ID candidate state) …`);
    const first = await runSyncInChild(stack, a.tenantId, "incremental", { kind: "scheduled" });

    const count = Math.round(o.size / 100);
    const changes = changeUsers(a.demo, count, 201);
    for (const t of [a, b]) for (const c of changes) stack.sim.control.updateUser(t.tenantId, c.id, c.patch);
    log(`  scheduled: ${changes.length} changed users: the scheduled run, then the update-only run of the twin …`);
    const sched = await runSyncInChild(stack, a.tenantId, "incremental", { kind: "scheduled" });
    const upd = await runSyncInChild(stack, b.tenantId, "incremental", { kind: "update" });
    log(`  scheduled: a scheduled run with no change …`);
    const none = await runSyncInChild(stack, a.tenantId, "incremental", { kind: "scheduled" });
    const n = changes.length;
    return {
      size: o.size,
      latencyMs: o.latencyMs,
      changed: n,
      scheduled: figures(sched),
      updateOnly: figures(upd),
      noChange: figures(none),
      graphBound: Math.ceil(n / PAGE_SIZE) + 2,
      tableBound: TABLE_REQUESTS_PER_CHANGE * n + TABLE_REQUESTS_PER_RUN,
      wallRatio: round(sched.wallMs / upd.wallMs, 2),
      firstScheduled: figures(first),
      ...(base ? { firstScheduledAt10k: figures(base), firstPeakRatio: round(figures(first).peakRssMb / Math.max(1, figures(base).peakRssMb), 2) } : {}),
    };
  } finally {
    await stack.stop();
  }
}
