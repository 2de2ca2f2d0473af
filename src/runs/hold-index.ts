import { odata, type TableClient } from "@azure/data-tables";
import { deleteWhere, getOrUndefined, storageError } from "../state/tables-client.js";

/** The partition of `tenantstate` that finds a held run's tenant by its run id (RowKey = run id). */
export const HOLDS_PARTITION = "!holds";

/** Where held runs are found by run id alone (the approve command and endpoint take only the run id). */
export class HoldIndex {
  constructor(private readonly table: TableClient) {}

  async put(tenantId: string, runId: string, expiresAt: string): Promise<void> {
    try {
      await this.table.upsertEntity({ partitionKey: HOLDS_PARTITION, rowKey: runId, tenantId, expiresAt }, "Replace");
    } catch (e) {
      throw storageError(e, `record the hold of run ${runId}`);
    }
  }

  async tenantOf(runId: string): Promise<string | undefined> {
    const e = await getOrUndefined<{ tenantId?: string }>(this.table, HOLDS_PARTITION, runId);
    return e?.tenantId;
  }

  /**
   * Deletes the rows of holds that expired before `before` (the scheduler passes its run-history age limit, so a row
   * goes about when its run does). Returns how many went.
   */
  async pruneExpired(before: Date): Promise<number> {
    return deleteWhere(this.table, odata`PartitionKey eq ${HOLDS_PARTITION} and expiresAt lt ${before.toISOString()}`, "prune expired holds");
  }
}

/** RowKey of the count of a tenant's linked platform users the mass-change guard's percentage is of (PartitionKey = tenant id). */
export const LINKED_USERS_ROW = "guard-users";
/** How long a count is used before it is made again: the number of linked users changes slowly. */
export const LINKED_USERS_MAX_AGE_MS = 24 * 3_600_000;

/**
 * The tenant's linked users, counted with `count` (a paged read of the platform users) at most once a day and kept in
 * the tenant state table (a completed full round records the users it matched, for free); asked only by runs whose
 * changes pass the guard's floor.
 */
export async function cachedLinkedUsers(table: TableClient, tenantId: string, now: Date, count: () => Promise<number>): Promise<number> {
  const e = await getOrUndefined<{ linkedUsers?: number; countedAt?: string }>(table, tenantId, LINKED_USERS_ROW);
  if (e?.linkedUsers !== undefined && e.countedAt && now.getTime() - Date.parse(e.countedAt) < LINKED_USERS_MAX_AGE_MS) return e.linkedUsers;
  const n = await count();
  await table.upsertEntity({ partitionKey: tenantId, rowKey: LINKED_USERS_ROW, linkedUsers: n, countedAt: now.toISOString() }, "Replace").catch(() => undefined);
  return n;
}

/** Records a count of a tenant's linked users made for free (the users a completed full round matched). */
export async function rememberLinkedUsers(table: TableClient, tenantId: string, n: number, now: Date): Promise<void> {
  await table.upsertEntity({ partitionKey: tenantId, rowKey: LINKED_USERS_ROW, linkedUsers: n, countedAt: now.toISOString() }, "Replace");
}
