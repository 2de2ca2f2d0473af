import type { TableClient } from "@azure/data-tables";
import { getOrUndefined, isConflict, isNotFound, isPreconditionFailed, storageError } from "./tables-client.js";

/** RowKey of a tenant's change notification row in the tenant state table (PartitionKey = tenant id). */
export const NOTIFICATIONS_ROW = "notifications";

/**
 * A tenant's Graph change notification subscription and its setting, as stored. What the fields mean and who changes
 * them when: src/notifications/. The subscription's `clientState` is never stored, only its SHA-256.
 */
export interface NotificationState {
  tenantId: string;
  /** The tenant's setting: `off` deletes the subscription and keeps the scheduler alone. */
  mode: "on" | "off";
  /** Graph's id of the subscription; "" while there is none. */
  subscriptionId: string;
  /** Hex SHA-256 of the subscription's clientState ("" while there is none). */
  clientStateHash: string;
  /** ISO time at which Graph deletes the subscription unless renewed. */
  expiresAt: string;
  /** ISO time of the last create or renewal. */
  renewedAt: string;
  /** `active` (notifications flow), `failed` (the last create/renewal failed: `lastError`), `none` (no subscription). */
  status: "active" | "failed" | "none";
  /** Code and message of the last failure (never a secret). */
  lastError: string;
  /** Consecutive failures of create/renewal (backoff). */
  failures: number;
  /** A lifecycle event asked for a renewal (`reauthorizationRequired`) or a new subscription (`subscriptionRemoved`). */
  renewRequested: "" | "renew" | "recreate";
  /** The last lifecycle event received and when (`event@ISO`). */
  lastLifecycleEvent: string;
  /** ISO time a notification came while a run was under way: the run's end starts one more. "" when none. */
  pendingRunAt: string;
  etag: string;
}

const EMPTY: Omit<NotificationState, "tenantId" | "etag"> = {
  mode: "on",
  subscriptionId: "",
  clientStateHash: "",
  expiresAt: "",
  renewedAt: "",
  status: "none",
  lastError: "",
  failures: 0,
  renewRequested: "",
  lastLifecycleEvent: "",
  pendingRunAt: "",
};

/** A tenant's row read from a point read or a table scan (absent columns take their defaults). */
export function notificationStateFromEntity(entity: object): NotificationState {
  const e = entity as Partial<Record<keyof NotificationState, unknown>> & { partitionKey: string; etag?: string };
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  const status = str(e.status);
  const renew = str(e.renewRequested);
  return {
    tenantId: String(e.partitionKey),
    mode: e.mode === "off" ? "off" : "on",
    subscriptionId: str(e.subscriptionId),
    clientStateHash: str(e.clientStateHash),
    expiresAt: str(e.expiresAt),
    renewedAt: str(e.renewedAt),
    status: status === "active" || status === "failed" ? status : "none",
    lastError: str(e.lastError),
    failures: Number(e.failures ?? 0) || 0,
    renewRequested: renew === "renew" || renew === "recreate" ? renew : "",
    lastLifecycleEvent: str(e.lastLifecycleEvent),
    pendingRunAt: str(e.pendingRunAt),
    etag: str(e.etag),
  };
}

/** The state of a tenant that has no row yet. */
export const emptyNotificationState = (tenantId: string): NotificationState => ({ tenantId, ...EMPTY, etag: "" });

/** The tenant state table's notification rows: point reads, and writes guarded by the row's ETag. */
export class NotificationRows {
  constructor(private readonly table: TableClient) {}

  async get(tenantId: string): Promise<NotificationState | undefined> {
    try {
      const e = await getOrUndefined<Record<string, unknown>>(this.table, tenantId, NOTIFICATIONS_ROW);
      return e ? notificationStateFromEntity(e) : undefined;
    } catch (err) {
      throw storageError(err, `read the change notification state of tenant ${tenantId}`);
    }
  }

  /** Writes the whole row: create when it has no ETag, else replace if unchanged. Returns the new ETag, or undefined on a lost race. */
  async write(s: NotificationState): Promise<string | undefined> {
    const { etag, tenantId, ...columns } = s;
    const entity = { partitionKey: tenantId, rowKey: NOTIFICATIONS_ROW, ...columns };
    try {
      const r = etag ? await this.table.updateEntity(entity, "Replace", { etag }) : await this.table.createEntity(entity);
      return r.etag ?? "";
    } catch (err) {
      if (isConflict(err) || isPreconditionFailed(err) || (etag && isNotFound(err))) return undefined;
      throw storageError(err, `write the change notification state of tenant ${tenantId}`);
    }
  }

  /**
   * Marks that a run should follow the one under way (one column, merged whatever the row's ETag: no other writer
   * touches it but the run's end, which clears it with the ETag it read).
   */
  async markPending(tenantId: string, at: string): Promise<void> {
    try {
      await this.table.upsertEntity({ partitionKey: tenantId, rowKey: NOTIFICATIONS_ROW, pendingRunAt: at }, "Merge");
    } catch (err) {
      throw storageError(err, `mark a pending run of tenant ${tenantId}`);
    }
  }

  async delete(tenantId: string): Promise<void> {
    try {
      await this.table.deleteEntity(tenantId, NOTIFICATIONS_ROW);
    } catch (err) {
      if (isNotFound(err)) return;
      throw storageError(err, `delete the change notification state of tenant ${tenantId}`);
    }
  }
}
