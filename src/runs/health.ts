import type { TableClient } from "@azure/data-tables";
import type { RunObserver } from "./observer.js";
import { EntraSyncError } from "../errors.js";
import { actionFor } from "./actions.js";
import { getOrUndefined, isConflict, isNotFound, isPreconditionFailed, storageError } from "../state/tables-client.js";
import type { RunReport, RunStatus } from "./report.js";

/** RowKey of the health row in the tenant state table (PartitionKey = tenant id). */
export const HEALTH_ROW = "health";

/** Waits after 1, 2, 3, 4+ consecutive failures before the scheduler tries the tenant again. */
export const BACKOFF_MINUTES = [15, 60, 6 * 60, 24 * 60] as const;
/** Consecutive failures after which a tenant is quarantined (no scheduled runs until a success or the CLI). */
export const QUARANTINE_AFTER = 5;

/** How a tenant's runs have gone lately: what the scheduler, `GET /api/tenants` and `entra-sync status` read. */
export interface TenantHealth {
  tenantId: string;
  lastRun?: { runId: string; status: RunStatus; trigger: string; endedAt: string } | undefined;
  lastSuccessAt?: string | undefined;
  consecutiveFailures: number;
  /** Why the last run failed and what to do about it. */
  lastFailure?: { code: string; class: string; message: string; action: string; at: string } | undefined;
  /** No scheduled run before this time (backoff after failures). */
  backoffUntil?: string | undefined;
  quarantined: boolean;
  quarantinedAt?: string | undefined;
  quarantineReason?: string | undefined;
}

interface HealthEntity {
  partitionKey: string;
  rowKey: string;
  data: string;
  quarantined: boolean;
}

export { actionFor };

export const emptyHealth = (tenantId: string): TenantHealth => ({ tenantId, consecutiveFailures: 0, quarantined: false });

/** The backoff after `failures` consecutive failures, in minutes. */
export function backoffMinutes(failures: number): number {
  if (failures <= 0) return 0;
  return BACKOFF_MINUTES[Math.min(failures, BACKOFF_MINUTES.length) - 1]!;
}

/** Health rows in the tenant state table, ETag-guarded. */
export class HealthStore {
  constructor(
    private readonly table: TableClient,
    private readonly clock: () => Date,
  ) {}

  async get(tenantId: string): Promise<TenantHealth> {
    return (await this.read(tenantId)).health;
  }

  /** Applies `change` to a tenant's health, retrying when another writer got there first. */
  async update(tenantId: string, change: (h: TenantHealth) => TenantHealth): Promise<TenantHealth> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const { health, etag } = await this.read(tenantId);
      const next = change(structuredClone(health));
      const e: HealthEntity = { partitionKey: tenantId, rowKey: HEALTH_ROW, data: JSON.stringify(next), quarantined: next.quarantined };
      try {
        if (etag) await this.table.updateEntity(e, "Replace", { etag });
        else await this.table.createEntity(e);
        return next;
      } catch (err) {
        if (isConflict(err) || isPreconditionFailed(err) || (etag && isNotFound(err))) continue;
        throw storageError(err, `save the health of tenant ${tenantId}`);
      }
    }
    throw new EntraSyncError("STORAGE_CONFLICT", `The health of tenant ${tenantId} kept changing; try again.`);
  }

  /** Records a run that ended: failures count up, back off and finally quarantine; a success clears all of it. */
  async recordRun(report: RunReport): Promise<TenantHealth> {
    const endedAt = report.endedAt ?? this.clock().toISOString();
    return this.update(report.tenantId, (h) => {
      h.lastRun = { runId: report.runId, status: report.status, trigger: report.trigger, endedAt };
      if (report.status === "failed") {
        h.consecutiveFailures++;
        const f = report.failure ?? { code: "INTERNAL", class: "bug", message: "The run failed without a recorded reason." };
        h.lastFailure = { code: f.code, class: f.class, message: f.message, action: report.failure?.action ?? actionFor(f.class, report.tenantId), at: endedAt };
        h.backoffUntil = new Date(Date.parse(endedAt) + backoffMinutes(h.consecutiveFailures) * 60_000).toISOString();
        if (h.consecutiveFailures >= QUARANTINE_AFTER && !h.quarantined) {
          h.quarantined = true;
          h.quarantinedAt = endedAt;
          h.quarantineReason = `${h.consecutiveFailures} runs in a row failed; the last with ${f.code}: ${f.message} Scheduled runs stop until a manual run succeeds or \`entra-sync tenant unquarantine ${report.tenantId}\`.`;
        }
      } else if (report.status === "succeeded" || report.status === "partial") {
        h.consecutiveFailures = 0;
        h.lastSuccessAt = endedAt;
        h.backoffUntil = undefined;
        h.quarantined = false;
        h.quarantinedAt = undefined;
        h.quarantineReason = undefined;
      }
      return h;
    });
  }

  /** Lifts a quarantine and the backoff (the operator fixed the cause). */
  async unquarantine(tenantId: string): Promise<TenantHealth> {
    return this.update(tenantId, (h) => ({ ...h, quarantined: false, quarantinedAt: undefined, quarantineReason: undefined, backoffUntil: undefined, consecutiveFailures: 0 }));
  }

  private async read(tenantId: string): Promise<{ health: TenantHealth; etag: string | undefined }> {
    const e = await getOrUndefined<HealthEntity>(this.table, tenantId, HEALTH_ROW);
    return e ? { health: healthFromEntity(e), etag: e.etag } : { health: emptyHealth(tenantId), etag: undefined };
  }
}

/** Reads a health entity got from a table scan. */
export function healthFromEntity(e: { partitionKey: string; data?: unknown }): TenantHealth {
  try {
    return { ...emptyHealth(e.partitionKey), ...(JSON.parse(String(e.data)) as TenantHealth), tenantId: e.partitionKey };
  } catch {
    return emptyHealth(e.partitionKey);
  }
}

/** The run observer that keeps tenant health (backoff, quarantine). Kept apart from alert mails. */
export function healthObserver(store: HealthStore): RunObserver {
  return {
    name: "health",
    async afterRun(report) {
      if (report.status === "skipped") return;
      await store.recordRun(report);
    },
  };
}
