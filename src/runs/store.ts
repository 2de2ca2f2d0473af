import { odata, type TableClient } from "@azure/data-tables";
import { getOrUndefined, storageError } from "../state/tables-client.js";
import type { RunReport } from "./report.js";

interface RunEntity {
  partitionKey: string;
  rowKey: string;
  report: string;
  status: string;
  queuedAt: string;
  /** The run whose stored Immutable ID plan this run's report points at (pruning keeps plans still pointed at). */
  planRunId?: string;
}

/** Run reports in Table Storage: partition per tenant, row key = run id (newest first). */
export class RunStore {
  constructor(private readonly table: TableClient) {}

  async save(report: RunReport): Promise<void> {
    try {
      const planRunId = report.immutableId?.plan?.entries ? report.immutableId.plan.runId : undefined;
      await this.table.upsertEntity<RunEntity>({ partitionKey: report.tenantId, rowKey: report.runId, report: JSON.stringify(report), status: report.status, queuedAt: report.queuedAt, ...(planRunId ? { planRunId } : {}) }, "Replace");
    } catch (e) {
      throw storageError(e, `save run ${report.runId}`);
    }
  }

  async get(tenantId: string, runId: string): Promise<RunReport | undefined> {
    if (!/^[0-9]{13}-[0-9a-f]{8}$/.test(runId)) return undefined;
    const e = await getOrUndefined<RunEntity>(this.table, tenantId, runId);
    return e ? (JSON.parse(e.report) as RunReport) : undefined;
  }

  /** The newest runs of a tenant, newest first. */
  async list(tenantId: string, limit = 20): Promise<RunReport[]> {
    const out: RunReport[] = [];
    const pages = this.table.listEntities<RunEntity>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId}` } }).byPage({ maxPageSize: Math.min(limit, 1000) });
    for await (const page of pages) {
      for (const e of page) {
        out.push(JSON.parse((e as RunEntity).report) as RunReport);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  /**
   * Deletes runs beyond the newest `keep` and older than `maxAgeDays`; returns how many. `prunePlans` is told which
   * stored plans the deleted runs pointed at that no remaining run points at (they go with their runs), and which
   * plans the remaining runs point at; it is not called when no run of the tenant points at a plan.
   */
  async prune(tenantId: string, keep: number, maxAgeDays: number, now: Date, prunePlans?: (plans: { orphaned: string[]; kept: string[] }) => Promise<unknown>): Promise<number> {
    let seen = 0;
    let deleted = 0;
    const cutoff = now.getTime() - maxAgeDays * 86_400_000;
    const kept = new Set<string>();
    const gone = new Set<string>();
    for await (const e of this.table.listEntities<RunEntity>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId}`, select: ["PartitionKey", "RowKey", "queuedAt", "status", "planRunId"] } })) {
      seen++;
      const old = Date.parse((e as RunEntity).queuedAt) < cutoff;
      const active = (e as RunEntity).status === "running" || (e as RunEntity).status === "queued";
      const plan = (e as RunEntity).planRunId;
      if (!active && (seen > keep || old)) {
        await this.table.deleteEntity(tenantId, (e as RunEntity).rowKey).catch(() => undefined);
        deleted++;
        if (plan) gone.add(plan);
      } else if (plan) kept.add(plan);
    }
    const orphaned = [...gone].filter((p) => !kept.has(p));
    if (prunePlans && (orphaned.length || kept.size)) await prunePlans({ orphaned, kept: [...kept] });
    return deleted;
  }
}
