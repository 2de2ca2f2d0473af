import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { deleteWhere, storageError, TABLE_LIMITS } from "../state/tables-client.js";
import { mapLimit } from "../util/concurrency.js";
import { AUDIT_END, AUDIT_PREFIX, fromAuditEntity, invertedTime, toAuditEntity, type AuditEntry, type StoredAuditEntry } from "./entry.js";

/** What to list: one tenant's entries, newest first, narrowed by user, run and time. */
export interface AuditQuery {
  tenantId: string;
  /** Platform user id or Entra object id. */
  userId?: string | undefined;
  runId?: string | undefined;
  /** Entries at or after this time (ISO). */
  since?: string | undefined;
  limit: number;
  /** Where the previous page ended (its `continuation`). */
  continuation?: string | undefined;
}

export interface AuditPage {
  entries: StoredAuditEntry[];
  /** Pass back to get the next page; absent on the last. */
  continuation?: string | undefined;
}

/** The audit log as its readers and the writers outside the platform directory use it. */
export interface AuditLog {
  /** Records entries of one tenant, up to 100 per table transaction (one round trip per 100, not per user). */
  record(tenantId: string, entries: readonly AuditEntry[]): Promise<void>;
  list(q: AuditQuery): Promise<AuditPage>;
  /** Deletes a tenant's entries older than `before`; returns how many. */
  prune(tenantId: string, before: Date): Promise<number>;
}

/**
 * The audit log in the platform directory's table (see ./entry.ts for the key layout): the directory adapter writes
 * its entries in the transactions of the changes; this writes the others (Entra writes, failed writes) and reads.
 */
export class TableAuditLog implements AuditLog {
  constructor(private readonly table: TableClient) {}

  async record(tenantId: string, entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const actions: TransactionAction[] = entries.map((e) => ["upsert", toAuditEntity({ ...e, tenantId }), "Replace"]);
    const batches: TransactionAction[][] = [];
    for (let i = 0; i < actions.length; i += TABLE_LIMITS.transactionEntities) batches.push(actions.slice(i, i + TABLE_LIMITS.transactionEntities));
    await mapLimit(batches, 4, async (b) => {
      try {
        await this.table.submitTransaction(b);
      } catch (e) {
        throw storageError(e, `record ${b.length} audit entries of tenant ${tenantId}`);
      }
    });
  }

  async list(q: AuditQuery): Promise<AuditPage> {
    const upper = q.since ? `${AUDIT_PREFIX}${invertedTime(Date.parse(q.since))}~` : AUDIT_END;
    let filter = odata`PartitionKey eq ${q.tenantId} and RowKey lt ${upper}`;
    const after = q.continuation ? Buffer.from(q.continuation, "base64url").toString("utf8") : undefined;
    filter += after ? odata` and RowKey gt ${after}` : odata` and RowKey ge ${AUDIT_PREFIX}`;
    // userId and runId are plain properties: the service filters them within the tenant's key range.
    if (q.userId) filter += odata` and (userId eq ${q.userId} or entraId eq ${q.userId})`;
    if (q.runId) filter += odata` and runId eq ${q.runId}`;
    const entries: StoredAuditEntry[] = [];
    try {
      const pages = this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize: Math.min(1000, q.limit + 1) });
      for await (const page of pages) {
        for (const e of page) {
          entries.push(fromAuditEntity(e));
          if (entries.length > q.limit) break;
        }
        if (entries.length > q.limit) break;
      }
    } catch (e) {
      throw storageError(e, `list the audit log of tenant ${q.tenantId}`);
    }
    if (entries.length <= q.limit) return { entries };
    const page = entries.slice(0, q.limit);
    // Opaque to callers (the RowKey the page ended at, base64url): safe in a URL and a shell.
    return { entries: page, continuation: Buffer.from(page[page.length - 1]!.id, "utf8").toString("base64url") };
  }

  async prune(tenantId: string, before: Date): Promise<number> {
    // Older entries have larger RowKeys: everything after the cutoff's key is older than the cutoff.
    const from = `${AUDIT_PREFIX}${invertedTime(before.getTime())}~`;
    return deleteWhere(this.table, odata`PartitionKey eq ${tenantId} and RowKey gt ${from} and RowKey lt ${AUDIT_END}`, `prune the audit log of tenant ${tenantId}`);
  }
}
