import { createHash } from "node:crypto";
import type { Settings } from "../config/settings.js";
import type { TableClients } from "../state/tables-client.js";
import type { TenantRegistry } from "../tenants/registry.js";
import type { HealthStore } from "./health.js";
import { toEntraSyncError } from "../errors.js";
import { PlanStore, runTime } from "../immutable-id/plan.js";
import type { JobQueue, SyncJob } from "../queue/jobs.js";
import type { Tenant } from "../tenants/model.js";
import { mapLimit } from "../util/concurrency.js";
import { isActive } from "./lease.js";
import { startRun, type StartDeps } from "./start.js";
import { readTenantStates, type TenantState } from "../state/tenant-state.js";
import type { AuditLog } from "../audit/store.js";
import { isHealthy } from "../notifications/renewal.js";
import type { HoldIndex } from "./hold-index.js";
import type { ConnectorSpace } from "../connector/space.js";
import type { AlertIntentStore } from "../expiry/intents.js";
import type { SecretFactsStore } from "../state/secret-facts.js";
import { OPERATORS_SCOPE } from "../alerts/mail.js";
import { THRESHOLD_KEY_PREFIX, thresholdKeyPrefix } from "../expiry/check.js";

/** The adapters the scheduler needs (the App provides them all). */
export interface SchedulerDeps extends Omit<StartDeps, "queue" | "tenants" | "tables"> {
  settings: Pick<Settings, "planRetentionDays"> & Partial<Pick<Settings, "audit" | "notifications">>;
  /** The audit log, pruned to AUDIT_RETENTION_DAYS with the run history (without it: not pruned here). */
  audit?: Pick<AuditLog, "prune">;
  tables: Pick<TableClients, "tenantState" | "runPlans">;
  tenants: Pick<TenantRegistry, "require" | "get" | "listAll">;
  queue: Pick<JobQueue, "sendMany">;
  health: Pick<HealthStore, "get" | "unquarantine">;
  /** Held runs by run id: rows of holds expired longer ago than the run history is kept are deleted (without it: kept). */
  holds?: Pick<HoldIndex, "pruneExpired">;
  /** Rows of users Entra removed long ago go (without it: kept). */
  connector?: Pick<ConnectorSpace, "pruneRemoved">;
  /** Records of mails sent go with the audit log's retention (without it: kept); a threshold mail of the secret in use stays. */
  alertIntents?: Pick<AlertIntentStore, "prune">;
  secretFacts?: Pick<SecretFactsStore, "get">;
}

/**
 * Days the connector-space row of a user Entra removed is kept: twice Entra's 30 days of soft deletion, so that no
 * user comes back to a deleted row, and the platform user keeps its removal mark meanwhile.
 */
export const REMOVED_USERS_KEPT_DAYS = 60;

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
  /**
   * What needs no hourly pass — rows of users Entra removed long ago, old records of mails sent — goes once a day per
   * tenant: in the hour (of this many, default 24) its id spreads it to.
   */
  pruneDailySlices?: number;
}

export interface ScheduleResult {
  tenants: number;
  enqueued: number;
  /** Why the other tenants were not enqueued, by reason. */
  /** `held`: a run the mass-change guard held waits for approval (until its hold expires). */
  skipped: Record<"disabled" | "quarantined" | "active" | "notDue" | "backoff" | "raced" | "error" | "held", number>;
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
  // Subscriptions exist only with NOTIFICATION_URL set; without it (or with no lengthening) their rows are not read.
  const notifiedMinutes = app.settings.notifications?.baseUrl ? app.settings.notifications.notifiedIntervalMinutes : 0;
  const lengthens = notifiedMinutes > 0;
  const result: ScheduleResult = { tenants: 0, enqueued: 0, skipped: { disabled: 0, quarantined: 0, active: 0, notDue: 0, backoff: 0, raced: 0, error: 0, held: 0 }, pruned: 0, jobs: [] };
  const [tenants, states] = await Promise.all([app.tenants.listAll(), readTenantStates(app.tables.tenantState, { rows: lengthens ? ["lease", "health", "notifications"] : ["lease", "health"] })]);
  result.tenants = tenants.length;

  const due: Array<{ tenant: Tenant; state: TenantState }> = [];
  for (const tenant of tenants) {
    const state = states.get(tenant.tenantId) ?? {};
    const reason = whyNotDue(tenant, state, now);
    if (reason) result.skipped[reason]++;
    else due.push({ tenant, state });
  }

  await mapLimit(due, o.concurrency ?? 32, async ({ tenant, state }) => {
    const prev = state.lease?.nextRunAt ? Date.parse(state.lease.nextRunAt) : undefined;
    const nextRunAt = new Date(nextDueAt(prev, now.getTime(), scheduledIntervalMinutes(tenant, state, now, notifiedMinutes) * 60_000, jitter * spread(tenant.tenantId))).toISOString();
    try {
      const { report } = await startRun(app, { tenantId: tenant.tenantId, trigger: "schedule", mode: "incremental", dryRun: false }, { tenant, nextRunAt, current: state.lease ?? null, hold: state.health?.hold ?? null });
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
  const auditDays = app.settings.audit?.retentionDays;
  const pruneTenant = async (tenantId: string): Promise<number> => {
    const n = await app.runs.prune(tenantId, o.keepRuns ?? 100, o.keepDays ?? 30, now, async ({ orphaned, kept }) => {
      await mapLimit(orphaned, 4, (id) => plans.deleteCopy(tenantId, id));
      await plans.deleteOlderThan(tenantId, planCutoff);
      // The live plan: what only pruned runs, or runs past retention, could still show goes.
      await plans.pruneLive(tenantId, Math.max(planCutoff.getTime(), kept.length ? Math.min(...kept.map(runTime)) : now.getTime()));
    });
    // The audit log outlives the run history (its own retention): entries older than AUDIT_RETENTION_DAYS go, and so
    // do the records of mails sent, but a threshold mail of the secret in use (its check would send it again).
    if (app.audit && auditDays) await app.audit.prune(tenantId, new Date(now.getTime() - auditDays * 86_400_000));
    // Once a day per tenant: the rows of users Entra removed long ago, and the old records of mails sent.
    const dailySlices = Math.max(1, o.pruneDailySlices ?? 24);
    if (Math.floor(spread(`daily:${tenantId}`) * dailySlices) !== Math.floor(now.getTime() / 3_600_000) % dailySlices) return n;
    if (app.alertIntents && auditDays) {
      // The secret's generation is read only if an old threshold mail is found.
      let current: Promise<string | undefined> | undefined;
      const inUse = async (key: string) => {
        if (!key.startsWith(THRESHOLD_KEY_PREFIX)) return false;
        current ??= app.secretFacts ? app.secretFacts.get(tenantId).then((f) => f?.generation) : Promise.resolve(undefined);
        const generation = await current;
        return generation === undefined || key.startsWith(thresholdKeyPrefix(generation));
      };
      await app.alertIntents.prune(tenantId, new Date(now.getTime() - auditDays * 86_400_000), inUse);
    }
    await app.connector?.pruneRemoved(tenantId, new Date(now.getTime() - REMOVED_USERS_KEPT_DAYS * 86_400_000));
    return n;
  };
  const counts = await mapLimit(toPrune, Math.min(16, o.concurrency ?? 32), (t) =>
    pruneTenant(t.tenantId).catch((e: unknown) => {
      app.log.warn(`could not prune the run history: ${toEntraSyncError(e).message}`, { tenantId: t.tenantId });
      return 0;
    }),
  );
  result.pruned = counts.reduce((a, b) => a + b, 0);
  // Once per round of slices: holds that expired before the oldest run the history keeps point at pruned runs.
  // The operators' own mails (the daily digest) go with the audit log's retention.
  if (slice === 0)
    await Promise.all([
      app.holds?.pruneExpired(new Date(now.getTime() - (o.keepDays ?? 30) * 86_400_000)),
      auditDays ? app.alertIntents?.prune(OPERATORS_SCOPE, new Date(now.getTime() - auditDays * 86_400_000)) : undefined,
    ]).catch((e: unknown) => app.log.warn(`could not prune expired holds or the operators' mail records: ${toEntraSyncError(e).message}`));
  return result;
}

/**
 * How far before the tick that starts a tenant's first scheduled run its due time is put (at most a fifth of the
 * interval): the later ticks, up to this much late, still find the tenant due.
 */
export const FIRST_DUE_SLACK_MS = 60_000;

/**
 * When a tenant's next scheduled run is due, decided as its run is started at `now`. From the previous due time
 * (`prevDue`, the lease row's `nextRunAt`): one interval later, so a tick that runs a few seconds late neither pushes
 * the tenant a whole interval back nor shifts its phase. After an outage (or a run that overran) the slots already
 * missed are skipped: the next slot of the same phase after `now`, never a burst of runs back to back. A tenant's
 * first scheduled run (no previous due time) counts as due `FIRST_DUE_SLACK_MS` ago and `pullEarlier` (0…1) of an
 * interval before that, so tenants spread over the interval and ahead of the ticks that find them due.
 */
export function nextDueAt(prevDue: number | undefined, now: number, intervalMs: number, pullEarlier = 0): number {
  if (!(intervalMs > 0)) throw new RangeError(`interval must be positive, got ${intervalMs} ms`);
  if (prevDue === undefined || !Number.isFinite(prevDue) || prevDue > now) return now - Math.min(FIRST_DUE_SLACK_MS, intervalMs / 5) + intervalMs * (1 - pullEarlier);
  return prevDue + (Math.floor((now - prevDue) / intervalMs) + 1) * intervalMs;
}

/**
 * A tenant's scheduled interval: its own, lengthened to `notifiedMinutes` (NOTIFIED_SYNC_INTERVAL_MINUTES) while its
 * change notification subscription is healthy, since the timer then only catches what notifications missed.
 */
export function scheduledIntervalMinutes(tenant: Pick<Tenant, "syncIntervalMinutes">, state: Pick<TenantState, "notifications">, now: Date, notifiedMinutes: number): number {
  return notifiedMinutes > 0 && isHealthy(state.notifications, now) ? Math.max(tenant.syncIntervalMinutes, notifiedMinutes) : tenant.syncIntervalMinutes;
}

/** Whether a tenant is due at `now` for the scheduler, by its `nextRunAt` alone. */
export const isDueAt = (nextRunAt: number | undefined, now: number): boolean => nextRunAt === undefined || nextRunAt <= now;

function whyNotDue(tenant: Tenant, s: TenantState, now: Date): keyof ScheduleResult["skipped"] | undefined {
  if (!tenant.enabled) return "disabled";
  if (s.health?.quarantined) return "quarantined";
  if (isActive(s.lease, now)) return "active";
  if (s.health?.hold && Date.parse(s.health.hold.expiresAt) > now.getTime()) return "held";
  if (s.health?.backoffUntil && Date.parse(s.health.backoffUntil) > now.getTime()) return "backoff";
  if (s.lease?.nextRunAt && !isDueAt(Date.parse(s.lease.nextRunAt), now.getTime())) return "notDue";
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
