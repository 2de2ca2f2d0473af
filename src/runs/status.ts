import type { TableClients } from "../state/tables-client.js";
import type { TenantRegistry } from "../tenants/registry.js";
import type { Tenant } from "../tenants/model.js";
import { daysLeft } from "../expiry/thresholds.js";
import { emptyHealth, type TenantHealth } from "../state/health.js";
import type { Lease } from "../state/leases.js";
import { readTenantStates, type TenantState } from "../state/tenant-state.js";
import { EntraSyncError, ERROR_CODES } from "../errors.js";
import { actionFor } from "./actions.js";
import { isActive, type LeaseStore } from "./lease.js";
import { boundReport, type RunReport } from "./report.js";
import type { RunStore } from "./store.js";
import { holdStateAt } from "./hold-state.js";
import { getRunPlan, type PlanDeps, type PlanEntry } from "../immutable-id/plan.js";

/** The adapters the status reads need; the App satisfies it. */
export interface StatusDeps {
  clock: () => Date;
  tables: Pick<TableClients, "tenantState">;
  tenants: Pick<TenantRegistry, "require" | "listAll">;
  runs: Pick<RunStore, "get" | "list">;
  leases: Pick<LeaseStore, "get">;
}

/** One tenant with its health, as `GET /api/tenants` and `entra-sync status` show it. */
export interface TenantStatus {
  tenantId: string;
  displayName: string;
  enabled: boolean;
  syncIntervalMinutes: number;
  /** The run queued or under way, if any. */
  activeRun: { runId: string; state: "queued" | "running" } | null;
  /**
   * A run that stopped without ending: its lease expired while it was queued or running. The scheduler records it
   * as failed (RUN_ABANDONED) when it starts the tenant's next run.
   */
  abandonedRun: { runId: string; leaseExpiredAt: string } | null;
  lastRun: TenantHealth["lastRun"] | null;
  lastSuccessAt: string | null;
  /** When the scheduler will start the next run (null: never while disabled or quarantined). */
  nextRunAt: string | null;
  consecutiveFailures: number;
  backoffUntil: string | null;
  quarantined: boolean;
  quarantineReason: string | null;
  lastFailure: TenantHealth["lastFailure"] | null;
  secret: { expiresOn: string; daysLeft: number; source: string | null; mismatch: boolean } | null;
  /** How the tenant signs in: `federated` has no secret (so `secret` is null), `secret` its own client secret. */
  auth: "secret" | "federated";
  /**
   * The run the mass-change guard held last, while no later run replaced it: `pending` (no scheduled run until it is
   * approved or expires; `action` says what to do) or `expired` (the next scheduled run decides afresh).
   */
  hold?: { runId: string; state: "pending" | "expired"; expiresAt: string; removals: number; changes: number; tripped: string[]; action: string } | null;
}

/** A tenant's hold as status shows it. */
function holdStatus(tenantId: string, h: TenantHealth["hold"], now: Date): NonNullable<TenantStatus["hold"]> | null {
  if (!h) return null;
  const pending = Date.parse(h.expiresAt) > now.getTime();
  const action = pending
    ? `Run ${h.runId} was held by the mass-change guard (${h.removals} removals, ${h.changes} changes): scheduled runs wait. Review it (entra-sync runs --tenant ${tenantId} --json), then approve it (entra-sync runs approve ${h.runId}), or let it expire at ${h.expiresAt}.`
    : `The hold of run ${h.runId} expired at ${h.expiresAt}: the next scheduled run reads the changes again and the guard decides afresh.`;
  return { runId: h.runId, state: pending ? "pending" : "expired", expiresAt: h.expiresAt, removals: h.removals, changes: h.changes, tripped: h.tripped, action };
}

/** When the scheduler will next start a run of this tenant (null: it will not). */
export function nextRunAt(tenant: Tenant, s: TenantState, now: Date): string | null {
  const h = s.health ?? emptyHealth(tenant.tenantId);
  if (!tenant.enabled || h.quarantined) return null;
  const times = [now.getTime()];
  if (s.lease?.nextRunAt) times.push(Date.parse(s.lease.nextRunAt));
  if (h.backoffUntil) times.push(Date.parse(h.backoffUntil));
  if (h.hold) times.push(Date.parse(h.hold.expiresAt));
  return new Date(Math.max(...times.filter((t) => !Number.isNaN(t)))).toISOString();
}

export function tenantStatus(tenant: Tenant, s: TenantState, now: Date): TenantStatus {
  const h = s.health ?? emptyHealth(tenant.tenantId);
  const active = s.lease && isActive(s.lease, now) ? { runId: s.lease.runId, state: s.lease.owner ? ("running" as const) : ("queued" as const) } : null;
  const exp = s.secret?.expiresOn && !Number.isNaN(Date.parse(s.secret.expiresOn)) ? s.secret.expiresOn : undefined;
  return {
    tenantId: tenant.tenantId,
    displayName: tenant.displayName,
    enabled: tenant.enabled,
    syncIntervalMinutes: tenant.syncIntervalMinutes,
    activeRun: active,
    abandonedRun: s.lease && !s.lease.released && s.lease.runId && !active ? { runId: s.lease.runId, leaseExpiredAt: s.lease.expiresAt } : null,
    lastRun: h.lastRun ?? null,
    lastSuccessAt: h.lastSuccessAt ?? null,
    nextRunAt: nextRunAt(tenant, s, now),
    consecutiveFailures: h.consecutiveFailures,
    backoffUntil: h.backoffUntil ?? null,
    quarantined: h.quarantined,
    quarantineReason: h.quarantineReason ?? null,
    lastFailure: h.lastFailure ?? null,
    auth: tenant.auth ?? "secret",
    hold: holdStatus(tenant.tenantId, h.hold, now),
    secret: exp && tenant.auth !== "federated" ? { expiresOn: exp, daysLeft: daysLeft(new Date(exp), now), source: s.secret?.source ?? null, mismatch: !!s.secret?.mismatchDays } : null,
  };
}

/** Every tenant (or one) with its health: one query for the registrations, one for the state rows. */
export async function listTenantStatuses(app: Pick<StatusDeps, "clock" | "tables" | "tenants">, tenantId?: string): Promise<TenantStatus[]> {
  const now = app.clock();
  const tenants = tenantId ? [await app.tenants.require(tenantId)] : await app.tenants.listAll();
  const states = await readTenantStates(app.tables.tenantState, { tenantId: tenantId ? tenants[0]!.tenantId : undefined });
  return tenants.map((t) => tenantStatus(t, states.get(t.tenantId) ?? {}, now));
}

/**
 * A run as the API and the CLI show it. A report still marked queued or running whose run no longer holds a live
 * lease (its worker stopped, its message was lost, it lost the lease to another run) was abandoned: it is shown as
 * failed with RUN_ABANDONED and the reason, as the scheduler records it when it starts the tenant's next run.
 */
export function presentRun(report: RunReport, lease: Lease | undefined, now: Date): RunReport {
  if (report.hold && holdStateAt(report.hold, now) !== report.hold.state) return { ...report, hold: { ...report.hold, state: holdStateAt(report.hold, now) } };
  if (report.status !== "queued" && report.status !== "running") return report;
  if (lease && lease.runId === report.runId && isActive(lease, now)) return report;
  const since = lease && lease.runId === report.runId ? ` since ${lease.expiresAt}` : "";
  const message = `Run ${report.runId} stopped without finishing (its worker was stopped or its queue message was lost) and holds no lease${since}. Nothing to do: the next run resumes from the checkpoint.`;
  const r = boundReport(report);
  r.status = "failed";
  const errorClass = ERROR_CODES.RUN_ABANDONED;
  r.failure = { code: "RUN_ABANDONED", class: errorClass, message, action: actionFor(errorClass, report.tenantId) };
  r.errors = [...r.errors, { code: "RUN_ABANDONED", message }];
  return r;
}

/** `presentRun` over a list of one tenant's runs, with the tenant's lease (read only when a run may need it). */
export function presentRuns(runs: RunReport[], lease: Lease | undefined, now: Date): RunReport[] {
  return runs.map((r) => presentRun(r, lease, now));
}

const mayBeLive = (r: RunReport) => r.status === "queued" || r.status === "running";

/** A run of a tenant as shown (see `presentRun`); RUN_NOT_FOUND or TENANT_NOT_FOUND when there is none. */
export async function showRun(app: Pick<StatusDeps, "clock" | "tenants" | "runs" | "leases">, tenantId: string, runId: string): Promise<RunReport> {
  const report = await app.runs.get(tenantId, runId);
  if (!report) {
    await app.tenants.require(tenantId);
    throw new EntraSyncError("RUN_NOT_FOUND", `Run ${runId} of tenant ${tenantId} does not exist (run history is pruned after a while). List runs at /api/tenants/${tenantId}/runs.`, { field: "runId", retryable: false });
  }
  const lease = mayBeLive(report) ? await app.leases.get(tenantId) : undefined;
  return presentRun(report, lease, app.clock());
}

/** A tenant's recent runs as shown, newest first (TENANT_NOT_FOUND for an unknown tenant). */
export async function showRuns(app: Pick<StatusDeps, "clock" | "tenants" | "runs" | "leases">, tenantId: string, limit: number): Promise<RunReport[]> {
  const t = await app.tenants.require(tenantId);
  const runs = await app.runs.list(t.tenantId, limit);
  const lease = runs.some(mayBeLive) ? await app.leases.get(t.tenantId) : undefined;
  return presentRuns(runs, lease, app.clock());
}

/** The stored Immutable ID plan of a run (see `getRunPlan`); TENANT_NOT_FOUND rather than RUN_NOT_FOUND for an unknown tenant. */
export async function showRunPlan(app: PlanDeps & Pick<StatusDeps, "tenants">, tenantId: string, runId: string): Promise<PlanEntry[]> {
  if (!(await app.runs.get(tenantId, runId))) await app.tenants.require(tenantId);
  return getRunPlan(app, tenantId, runId);
}
