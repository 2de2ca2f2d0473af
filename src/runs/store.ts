import { odata, type TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { entityBytes, getOrUndefined, storageError, TABLE_LIMITS } from "../state/tables-client.js";
import { boundReport, type RunReport } from "./report.js";

interface RunEntity {
  partitionKey: string;
  rowKey: string;
  /** The report as JSON; a long one continues in report1, report2 … (`parts` in all). */
  report: string;
  parts?: number;
  status: string;
  queuedAt: string;
  /** The run whose stored Immutable ID plan this run's report points at (pruning keeps plans still pointed at). */
  planRunId?: string;
  [more: `report${number}`]: string;
}

/** Characters of report JSON per property: 60,000 bytes of UTF-16, under the string property limit. */
const PART_CHARS = 30_000;

/** The report JSON of an entity, whole again. */
function reportJson(e: RunEntity): string {
  let json = e.report;
  for (let i = 1; i < Number(e.parts ?? 1); i++) json += e[`report${i}`] ?? "";
  return json;
}

/** Run reports in Table Storage: partition per tenant, row key = run id (newest first). */
export class RunStore {
  constructor(private readonly table: TableClient) {}

  /**
   * Saves a run's report, masked and bounded (`boundReport`), split over as many properties as it needs. Throws
   * REPORT_TOO_LARGE when even that exceeds Table Storage's entity limit (nothing is written then), STORAGE_FAILED
   * when storage refuses.
   */
  async save(report: RunReport): Promise<void> {
    const json = JSON.stringify(boundReport(report));
    const planRunId = report.immutableId?.plan?.entries ? report.immutableId.plan.runId : undefined;
    const e: RunEntity = { partitionKey: report.tenantId, rowKey: report.runId, report: json.slice(0, PART_CHARS), status: report.status, queuedAt: report.queuedAt, ...(planRunId ? { planRunId } : {}) };
    const parts = Math.max(1, Math.ceil(json.length / PART_CHARS));
    if (parts > 1) e.parts = parts;
    for (let i = 1; i < parts; i++) e[`report${i}`] = json.slice(i * PART_CHARS, (i + 1) * PART_CHARS);
    const bytes = entityBytes(e as unknown as Record<string, unknown>);
    if (bytes > TABLE_LIMITS.entityBytes)
      throw new EntraSyncError("REPORT_TOO_LARGE", `The report of run ${report.runId} of tenant ${report.tenantId} takes ${bytes} bytes, more than the ${TABLE_LIMITS.entityBytes} bytes a table entity may hold.`, { retryable: false });
    try {
      await this.table.upsertEntity<RunEntity>(e, "Replace");
    } catch (err) {
      throw storageError(err, `save run ${report.runId}`);
    }
  }

  async get(tenantId: string, runId: string): Promise<RunReport | undefined> {
    if (!/^[0-9]{13}-[0-9a-f]{8}$/.test(runId)) return undefined;
    const e = await getOrUndefined<RunEntity>(this.table, tenantId, runId);
    return e ? (JSON.parse(reportJson(e)) as RunReport) : undefined;
  }

  /** The newest runs of a tenant, newest first. */
  async list(tenantId: string, limit = 20): Promise<RunReport[]> {
    const out: RunReport[] = [];
    const pages = this.table.listEntities<RunEntity>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId}` } }).byPage({ maxPageSize: Math.min(limit, 1000) });
    for await (const page of pages) {
      for (const e of page) {
        out.push(JSON.parse(reportJson(e as RunEntity)) as RunReport);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  /**
   * Deletes runs beyond the newest `keep` and older than `maxAgeDays`; returns how many. A run still marked queued
   * or running is kept unless it is older than `maxAgeDays`: no lease lasts that long, so it was abandoned.
   * `prunePlans` is told which stored plans the deleted runs pointed at that no remaining run points at (they go with
   * their runs); it is not called when no run of the tenant points at a plan.
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
      if (old || (!active && seen > keep)) {
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
