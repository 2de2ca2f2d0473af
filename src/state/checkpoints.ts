import type { TableClient } from "@azure/data-tables";
import { getOrUndefined, storageError } from "./tables-client.js";

/** A tenant's delta position. */
export interface Checkpoint {
  /** The link to request next: a nextLink while a round is under way, a deltaLink between runs. */
  link: string;
  kind: "next" | "delta";
  /** The run that saved it. */
  runId: string;
  /** Whether the round under way is an initial (full) round. */
  round: "initial" | "incremental";
  /** ISO time at which the round started (for sweeping users an initial round did not see). */
  roundStartedAt: string;
  savedAt: string;
}

export interface CheckpointEntity {
  partitionKey: string;
  rowKey: string;
  data: string;
}

/** `main`: the tenant's position. `dryRun`: the position of a dry run under way, which must not move `main`. */
export type CheckpointSlot = "main" | "dryRun";
/** RowKeys of the checkpoint rows in the tenant state table (PartitionKey = tenant id), by slot. */
export const CHECKPOINT_ROWS: Record<CheckpointSlot, string> = { main: "checkpoint", dryRun: "checkpoint-dryrun" };
const rk = (slot: CheckpointSlot) => CHECKPOINT_ROWS[slot];

/** The row of a checkpoint, for a write. */
export function checkpointToEntity(tenantId: string, c: Checkpoint, slot: CheckpointSlot = "main"): CheckpointEntity {
  return { partitionKey: tenantId, rowKey: rk(slot), data: JSON.stringify(c) };
}

/** Reads a checkpoint row (from a point read or a table scan). */
export function checkpointFromEntity(e: { data?: unknown }): Checkpoint {
  return JSON.parse(String(e.data)) as Checkpoint;
}

/** Checkpoints in the tenant state table (one row per tenant). Saved after every page. */
export class CheckpointStore {
  constructor(private readonly table: TableClient) {}

  async get(tenantId: string, slot: CheckpointSlot = "main"): Promise<Checkpoint | undefined> {
    const e = await getOrUndefined<CheckpointEntity>(this.table, tenantId, rk(slot));
    return e ? checkpointFromEntity(e) : undefined;
  }

  async save(tenantId: string, c: Checkpoint, slot: CheckpointSlot = "main"): Promise<void> {
    try {
      await this.table.upsertEntity<CheckpointEntity>(checkpointToEntity(tenantId, c, slot), "Replace");
    } catch (e) {
      throw storageError(e, `save the checkpoint of tenant ${tenantId}`);
    }
  }

  async clear(tenantId: string, slot: CheckpointSlot = "main"): Promise<void> {
    await this.table.deleteEntity(tenantId, rk(slot)).catch(() => undefined);
  }
}
