import type { TableClient } from "@azure/data-tables";
import { getOrUndefined, storageError } from "../state/tables-client.js";

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
}
