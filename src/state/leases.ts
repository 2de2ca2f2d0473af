import type { TableClient } from "@azure/data-tables";
import { getOrUndefined, isConflict, isNotFound, isPreconditionFailed, storageError } from "./tables-client.js";

/** RowKey of the lease row in the tenant state table (PartitionKey = tenant id). */
export const LEASE_ROW = "lease";

/**
 * The lease row of one tenant as stored (what it means, and who may change it how: src/runs/lease.ts). The row stays
 * after release: it also remembers when the tenant's next scheduled run is due.
 */
export interface Lease {
  tenantId: string;
  /** The run that holds (or last held) the lease. */
  runId: string;
  /** The invocation working on the run; "" while the run waits in the queue. */
  owner: string;
  /** ISO time after which the lease is free for another run (or another invocation of the same run). */
  expiresAt: string;
  /** The continuation number of the job that may work on the run next. */
  continuation: number;
  /** ISO time at which the scheduler may start the tenant's next run. */
  nextRunAt?: string | undefined;
  /** Whether the run ended and gave the lease back. */
  released: boolean;
  etag: string;
}

/** The stored columns of a lease row. */
export interface LeaseEntity {
  partitionKey: string;
  rowKey: string;
  runId: string;
  owner: string;
  expiresAt: string;
  continuation: number;
  nextRunAt?: string;
  released: boolean;
}

/** Lease rows: one point read, and writes guarded by the row's ETag. */
export class LeaseRows {
  constructor(private readonly table: TableClient) {}

  async get(tenantId: string): Promise<Lease | undefined> {
    const e = await getOrUndefined<LeaseEntity>(this.table, tenantId, LEASE_ROW);
    return e ? leaseFromEntity(e) : undefined;
  }

  /** Writes the row: create when there is no ETag, else replace if unchanged. Returns the new ETag, or undefined on a lost race. */
  async write(e: LeaseEntity, etag: string | undefined): Promise<string | undefined> {
    try {
      const r = etag ? await this.table.updateEntity(e, "Replace", { etag }) : await this.table.createEntity(e);
      return r.etag ?? "";
    } catch (err) {
      if (isConflict(err) || isPreconditionFailed(err) || (etag && isNotFound(err))) return undefined;
      throw storageError(err, `write the run lease of tenant ${e.partitionKey}`);
    }
  }
}

/** Reads a lease row (from a point read or a table scan). */
export function leaseFromEntity(entity: object): Lease {
  const e = entity as Partial<LeaseEntity> & { partitionKey: string; etag?: string };
  return { tenantId: String(e.partitionKey), runId: e.runId ?? "", owner: e.owner ?? "", expiresAt: e.expiresAt ?? "", continuation: Number(e.continuation ?? 0), nextRunAt: e.nextRunAt || undefined, released: !!e.released, etag: e.etag ?? "" };
}

/** The row of a lease, for a write. */
export function leaseToEntity(l: Lease): LeaseEntity {
  return { partitionKey: l.tenantId, rowKey: LEASE_ROW, runId: l.runId, owner: l.owner, expiresAt: l.expiresAt, continuation: l.continuation, released: l.released, ...(l.nextRunAt ? { nextRunAt: l.nextRunAt } : {}) };
}
