import type { TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import type { RunStatus } from "../runs/report.js";
import { getOrUndefined, isConflict, isNotFound, isPreconditionFailed, storageError } from "./tables-client.js";

/** RowKey of the health row in the tenant state table (PartitionKey = tenant id). */
export const HEALTH_ROW = "health";

/**
 * How a tenant's runs have gone lately, as stored: what the scheduler, `GET /api/tenants` and `entra-sync status`
 * read. The policy that writes it (backoff, quarantine) is src/runs/health.ts's.
 */
export interface TenantHealth {
  tenantId: string;
  /**
   * `planPending`: the run stored an Immutable ID plan it did not write in full (a preview, a dry run, a plan over the
   * cap): the plan to review, and force with `--force-plan <runId>` where the cap held it back.
   */
  lastRun?: { runId: string; status: RunStatus; trigger: string; endedAt: string; planPending?: { runId: string; planned: number; written: number; capExceeded: boolean } | undefined } | undefined;
  lastSuccessAt?: string | undefined;
  consecutiveFailures: number;
  /** Why the last run failed and what to do about it. */
  lastFailure?: { code: string; class: string; message: string; action: string; at: string } | undefined;
  /** No scheduled run before this time (backoff after failures). */
  backoffUntil?: string | undefined;
  quarantined: boolean;
  quarantinedAt?: string | undefined;
  quarantineReason?: string | undefined;
  /**
   * The run the mass-change guard held, while it waits for approval: no scheduled run starts before `expiresAt`
   * (then the next one decides afresh). Cleared by the next run that updates and is not held.
   */
  hold?: { runId: string; expiresAt: string; removals: number; changes: number; tripped: string[] } | undefined;
}

/** The stored columns: the health as JSON, and `quarantined` on its own (to filter on). */
export interface HealthEntity {
  partitionKey: string;
  rowKey: string;
  data: string;
  quarantined: boolean;
}

export const emptyHealth = (tenantId: string): TenantHealth => ({ tenantId, consecutiveFailures: 0, quarantined: false });

/** Reads a health row (from a point read or a table scan); an unreadable one reads as empty. */
export function healthFromEntity(e: { partitionKey: string; data?: unknown }): TenantHealth {
  try {
    return { ...emptyHealth(e.partitionKey), ...(JSON.parse(String(e.data)) as TenantHealth), tenantId: e.partitionKey };
  } catch {
    return emptyHealth(e.partitionKey);
  }
}

/** The row of a tenant's health, for a write. */
export function healthToEntity(h: TenantHealth): HealthEntity {
  return { partitionKey: h.tenantId, rowKey: HEALTH_ROW, data: JSON.stringify(h), quarantined: h.quarantined };
}

/** Health rows in the tenant state table, ETag-guarded. */
export class HealthRows {
  constructor(private readonly table: TableClient) {}

  async get(tenantId: string): Promise<TenantHealth> {
    return (await this.read(tenantId)).health;
  }

  /** Applies `change` to a tenant's health, retrying when another writer got there first. */
  async update(tenantId: string, change: (h: TenantHealth) => TenantHealth): Promise<TenantHealth> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const { health, etag } = await this.read(tenantId);
      const next = change(structuredClone(health));
      const e: HealthEntity = { ...healthToEntity(next), partitionKey: tenantId };
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

  private async read(tenantId: string): Promise<{ health: TenantHealth; etag: string | undefined }> {
    const e = await getOrUndefined<HealthEntity>(this.table, tenantId, HEALTH_ROW);
    return e ? { health: healthFromEntity(e), etag: e.etag } : { health: emptyHealth(tenantId), etag: undefined };
  }
}
