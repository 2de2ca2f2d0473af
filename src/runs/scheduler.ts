import { createHash } from "node:crypto";
import type { Settings } from "../config/settings.js";
import type { TableClients } from "../state/tables-client.js";
import type { TenantRegistry } from "../tenants/registry.js";
import type { HealthStore } from "./health.js";
import { toEntraSyncError } from "../errors.js";
import { PlanStore } from "../immutable-id/plan.js";
import type { JobQueue, SyncJob } from "../queue/jobs.js";
import type { Tenant } from "../tenants/model.js";
import { mapLimit } from "../util/concurrency.js";
import { isActive } from "./lease.js";
import { startRun, type StartDeps } from "./start.js";
import { readTenantStates, type TenantState } from "../state/tenant-state.js";

/** The adapters the scheduler needs (the App provides them all). */
export interface SchedulerDeps extends Omit<StartDeps, "queue" | "tenants" | "tables"> {
  settings: Pick<Settings, "planRetentionDays">;
  tables: Pick<TableClients, "tenantState" | "runPlans">;
  tenants: Pick<TenantRegistry, "require" | "get" | "listAll">;
  queue: Pick<JobQueue, "sendMany">;
  health: Pick<HealthStore, "get" | "unquarantine">;
}

export interface SchedulerOptions {
  /** Share of a tenant's interval by which its next run is pulled earlier, spread by tenant id (default 0.1). */
  jitterRatio?: number;
  /** Parallel table writes (default 32). */
  concurrency?: number;
  /** Run history kept per tenant: the newest `keep` runs … */
  keepRuns?: number;
  /** … none older than this many days. */
  keepDays?: number;
  /**
   * Tenants' history is pruned in this many slices, one slice per tick (default 12: each tenant about once an hour
   * on the default five-minute schedule), so a tick's cost stays flat with the number of tenants.
   */
  pruneSlices?: number;
}

export interface ScheduleResult {
  tenants: number;
  enqueued: number;
  /** Why the other tenants were not enqueued, by reason. */
  skipped: Record<"disabled" | "quarantined" | "active" | "notDue" | "backoff" | "raced" | "error", number>;
  pruned: number;
  jobs: SyncJob[];
}

/** A stable number in [0, 1) for a string (spreads tenants without state). */
export function spread(key: string): number {
  return createHash("sha256").update(key).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * The scheduler's tick: enqueues one job per enabled tenant that is due — not quarantined, past its backoff, past its
 * next run time, and with no run queued or under way — and prunes run history. Reads every registration with one
 * query and every tenant's lease and health with one more; sends the jobs in parallel batches. A tenant whose run
 * cannot be created is counted and logged; it never stops the others.
 */
export async function scheduleDueRuns(app: SchedulerDeps, o: SchedulerOptions = {}): Promise<ScheduleResult> {
  const now = app.clock();
  const jitter = o.jitterRatio ?? 0.1;
  const result: ScheduleResult = { tenants: 0, enqueued: 0, skipped: { disabled: 0, quarantined: 0, active: 0, notDue: 0, backoff: 0, raced: 0, error: 0 }, pruned: 0, jobs: [] };
  const [tenants, states] = await Promise.all([app.tenants.listAll(), readTenantStates(app.tables.tenantState, { rows: ["lease", "health"] })]);
  result.tenants = tenants.length;

  const due: Array<{ tenant: Tenant; state: TenantState }> = [];
  for (const tenant of tenants) {
    const state = states.get(tenant.tenantId) ?? {};
    const reason = whyNotDue(tenant, state, now);
    if (reason) result.skipped[reason]++;
    else due.push({ tenant, state });
  }

  await mapLimit(due, o.concurrency ?? 32, async ({ tenant, state }) => {
    const intervalMs = tenant.syncIntervalMinutes * 60_000;
    const nextRunAt = new Date(now.getTime() + intervalMs * (1 - jitter * spread(tenant.tenantId))).toISOString();
    try {
      const { report } = await startRun(app, { tenantId: tenant.tenantId, trigger: "schedule", mode: "incremental", dryRun: false }, { tenant, nextRunAt, current: state.lease ?? null });
      result.jobs.push({ tenantId: tenant.tenantId, runId: report.runId, continuation: 0 });
    } catch (e) {
      const err = toEntraSyncError(e);
      if (err.code === "RUN_IN_PROGRESS") result.skipped.raced++;
      else {
        result.skipped.error++;
        app.log.error(`scheduler could not start a run: ${err.message}`, { tenantId: tenant.tenantId, code: err.code });
      }
    }
  });
  await app.queue.sendMany(result.jobs);
  result.enqueued = result.jobs.length;

  const slices = Math.max(1, o.pruneSlices ?? 12);
  const slice = Math.floor(now.getTime() / 300_000) % slices;
  // A tenant without a lease row has never had a run: nothing to prune, no query spent.
  const toPrune = tenants.filter((t) => states.get(t.tenantId)?.lease && Math.floor(spread(`prune:${t.tenantId}`) * slices) === slice);
  // Immutable ID plans hold UPNs and ImmutableIds: they go with their runs, and after PLAN_RETENTION_DAYS at the latest.
  const plans = new PlanStore(app.tables.runPlans);
  const planCutoff = new Date(now.getTime() - app.settings.planRetentionDays * 86_400_000);
  const pruneTenant = (tenantId: string): Promise<number> =>
    app.runs.prune(tenantId, o.keepRuns ?? 100, o.keepDays ?? 30, now, async ({ orphaned }) => {
      await mapLimit(orphaned, 4, (id) => plans.delete(tenantId, id));
      await plans.deleteOlderThan(tenantId, planCutoff);
    });
  const counts = await mapLimit(toPrune, Math.min(16, o.concurrency ?? 32), (t) =>
    pruneTenant(t.tenantId).catch((e: unknown) => {
      app.log.warn(`could not prune the run history: ${toEntraSyncError(e).message}`, { tenantId: t.tenantId });
      return 0;
    }),
  );
  result.pruned = counts.reduce((a, b) => a + b, 0);
  return result;
}

function whyNotDue(tenant: Tenant, s: TenantState, now: Date): keyof ScheduleResult["skipped"] | undefined {
  if (!tenant.enabled) return "disabled";
  if (s.health?.quarantined) return "quarantined";
  if (isActive(s.lease, now)) return "active";
  if (s.health?.backoffUntil && Date.parse(s.health.backoffUntil) > now.getTime()) return "backoff";
  if (s.lease?.nextRunAt && Date.parse(s.lease.nextRunAt) > now.getTime()) return "notDue";
  return undefined;
}

/** Lifts a tenant's quarantine and backoff (CLI `tenant unquarantine`). */
export async function unquarantineTenant(app: Pick<SchedulerDeps, "tenants" | "health">, tenantId: string): Promise<{ tenantId: string; wasQuarantined: boolean }> {
  const t = await app.tenants.require(tenantId);
  const before = await app.health.get(t.tenantId);
  await app.health.unquarantine(t.tenantId);
  if (!before.quarantined && before.consecutiveFailures === 0) return { tenantId: t.tenantId, wasQuarantined: false };
  return { tenantId: t.tenantId, wasQuarantined: before.quarantined };
}
