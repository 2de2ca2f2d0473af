import { odata } from "@azure/data-tables";
import { storageError, type TableClients } from "../state/tables-client.js";
import type { TenantRegistry } from "../tenants/registry.js";
import type { Tenant } from "../tenants/model.js";
import { SECRET_ROW } from "../expiry/secret-state.js";
import { daysLeft } from "../expiry/thresholds.js";
import { emptyHealth, HEALTH_ROW, healthFromEntity, type TenantHealth } from "./health.js";
import { isActive, LEASE_ROW, leaseFromEntity, type Lease } from "./lease.js";
import { ERROR_CODES } from "../errors.js";
import { actionFor } from "./actions.js";
import { boundReport, type RunReport } from "./report.js";


/** What is known about a tenant's client secret (written by the secret expiry check). */
export interface SecretInfo {
  expiresOn?: string | undefined;
  source?: "keyVault" | "entra" | undefined;
  version?: string | undefined;
  mismatch?: boolean | undefined;
  checkedAt?: string | undefined;
}

/** The adapters the status reads need; the App satisfies it. */
export interface StatusDeps {
  clock: () => Date;
  tables: Pick<TableClients, "tenantState">;
  tenants: TenantRegistry;
}

/** The operational state rows of one tenant. */
export interface TenantState {
  lease?: Lease | undefined;
  health?: TenantHealth | undefined;
  secret?: SecretInfo | undefined;
}

/**
 * Reads the lease, health and secret rows of every tenant with one query (or of one tenant with a partition
 * query), page by page. Checkpoint rows are not read.
 */
export async function readTenantStates(app: Pick<StatusDeps, "tables">, tenantId?: string, rows: string[] = [LEASE_ROW, HEALTH_ROW, SECRET_ROW]): Promise<Map<string, TenantState>> {
  const out = new Map<string, TenantState>();
  const rowFilter = rows.map((r) => odata`RowKey eq ${r}`).join(" or ");
  const filter = tenantId ? `PartitionKey eq '${tenantId.replace(/'/g, "''")}' and (${rowFilter})` : rowFilter;
  try {
    for await (const page of app.tables.tenantState.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize: 1000 })) {
      for (const e of page) {
        const pk = String(e.partitionKey);
        const s = out.get(pk) ?? {};
        if (e.rowKey === LEASE_ROW) s.lease = leaseFromEntity(e);
        else if (e.rowKey === HEALTH_ROW) s.health = healthFromEntity(e as { partitionKey: string; data?: unknown });
        else if (e.rowKey === SECRET_ROW) s.secret = secretFromEntity(e);
        out.set(pk, s);
      }
    }
  } catch (e) {
    throw storageError(e, "read the state of the tenants");
  }
  return out;
}

function secretFromEntity(e: Record<string, unknown>): SecretInfo {
  let v: Record<string, unknown> = e;
  if (typeof e.data === "string") {
    try {
      v = JSON.parse(e.data) as Record<string, unknown>;
    } catch {
      v = {};
    }
  }
  const str = (x: unknown) => (typeof x === "string" ? x : x instanceof Date ? x.toISOString() : undefined);
  // The secret expiry check records a difference between Key Vault's and Entra's date as mismatchDays.
  const mismatch = typeof v.mismatchDays === "number" ? v.mismatchDays !== 0 : typeof v.mismatch === "boolean" ? v.mismatch : undefined;
  return { expiresOn: str(v.expiresOn), source: v.source === "keyVault" || v.source === "entra" ? v.source : undefined, version: str(v.version), mismatch, checkedAt: str(v.checkedAt) };
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
}

/** When the scheduler will next start a run of this tenant (null: it will not). */
export function nextRunAt(tenant: Tenant, s: TenantState, now: Date): string | null {
  const h = s.health ?? emptyHealth(tenant.tenantId);
  if (!tenant.enabled || h.quarantined) return null;
  const times = [now.getTime()];
  if (s.lease?.nextRunAt) times.push(Date.parse(s.lease.nextRunAt));
  if (h.backoffUntil) times.push(Date.parse(h.backoffUntil));
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
    secret: exp ? { expiresOn: exp, daysLeft: daysLeft(new Date(exp), now), source: s.secret?.source ?? null, mismatch: !!s.secret?.mismatch } : null,
  };
}

/** Every tenant (or one) with its health: one query for the registrations, one for the state rows. */
export async function listTenantStatuses(app: StatusDeps, tenantId?: string): Promise<TenantStatus[]> {
  const now = app.clock();
  const tenants = tenantId ? [await app.tenants.require(tenantId)] : await app.tenants.listAll();
  const states = await readTenantStates(app, tenantId ? tenants[0]!.tenantId : undefined);
  return tenants.map((t) => tenantStatus(t, states.get(t.tenantId) ?? {}, now));
}

/**
 * A run as the API and the CLI show it. A report still marked queued or running whose run no longer holds a live
 * lease (its worker stopped, its message was lost, it lost the lease to another run) was abandoned: it is shown as
 * failed with RUN_ABANDONED and the reason, as the scheduler records it when it starts the tenant's next run.
 */
export function presentRun(report: RunReport, lease: Lease | undefined, now: Date): RunReport {
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
