/**
 * Immutable ID sync plans: what a run would write (preview, dry run) or was about to write (mode on), one row per
 * Entra user in the `runplans` table, one partition per run. Plans can hold 100,000 users, so they live apart from
 * the run report, which only points at them.
 */
import { createHash } from "node:crypto";
import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import type { RunStore } from "../runs/store.js";
import { storageError } from "../state/tables-client.js";
import { chunk, mapLimit } from "../util/concurrency.js";

/** One user in a plan. */
export interface PlanEntry {
  /** Entra object id. */
  entraId: string;
  userPrincipalName: string;
  /** The onPremisesImmutableId to write. */
  value: string;
  platformUserId: string;
  /** `switchUpn`: the UPN is in a federated domain and moves to the initial domain for the write. */
  action: "write" | "switchUpn";
}

interface PlanEntity {
  partitionKey: string;
  rowKey: string;
  entraId: string;
  upn: string;
  value: string;
  platformUserId: string;
  action: string;
}

const partitionOf = (tenantId: string, runId: string) => `${tenantId}_${runId}`;

/** A digest of a plan: two runs with the same digest planned exactly the same writes. */
export function planHash(entries: readonly PlanEntry[]): string {
  const h = createHash("sha256");
  for (const e of entries) h.update(`${e.entraId}\t${e.userPrincipalName}\t${e.value}\t${e.platformUserId}\t${e.action}\n`);
  return h.digest("hex").slice(0, 32);
}

/** Plan rows in Table Storage. */
export class PlanStore {
  constructor(private readonly table: TableClient) {}

  /** Stores a plan in plan order (transactions of 100, one partition per run). */
  async save(tenantId: string, runId: string, entries: readonly PlanEntry[]): Promise<void> {
    const pk = partitionOf(tenantId, runId);
    const rows: PlanEntity[] = entries.map((e, i) => ({ partitionKey: pk, rowKey: String(i).padStart(7, "0"), entraId: e.entraId, upn: e.userPrincipalName, value: e.value, platformUserId: e.platformUserId, action: e.action }));
    await mapLimit(chunk(rows, 100), 8, async (batch) => {
      const actions: TransactionAction[] = batch.map((e) => ["upsert", e as unknown as Record<string, unknown> & { partitionKey: string; rowKey: string }, "Replace"]);
      try {
        await this.table.submitTransaction(actions);
      } catch (e) {
        throw storageError(e, `store ${batch.length} plan rows of run ${runId}`);
      }
    });
  }

  async list(tenantId: string, runId: string): Promise<PlanEntry[]> {
    const out: PlanEntry[] = [];
    try {
      for await (const e of this.table.listEntities<PlanEntity>({ queryOptions: { filter: odata`PartitionKey eq ${partitionOf(tenantId, runId)}` } })) {
        out.push({ entraId: e.entraId, userPrincipalName: e.upn, value: e.value, platformUserId: e.platformUserId, action: e.action === "switchUpn" ? "switchUpn" : "write" });
      }
    } catch (e) {
      throw storageError(e, `read the plan of run ${runId}`);
    }
    return out;
  }

  /** Deletes a run's plan rows (run pruning). */
  async delete(tenantId: string, runId: string): Promise<number> {
    const keys: Array<{ partitionKey: string; rowKey: string }> = [];
    for await (const e of this.table.listEntities<PlanEntity>({ queryOptions: { filter: odata`PartitionKey eq ${partitionOf(tenantId, runId)}`, select: ["PartitionKey", "RowKey"] } })) keys.push({ partitionKey: e.partitionKey, rowKey: e.rowKey });
    await mapLimit(chunk(keys, 100), 8, (batch) => this.table.submitTransaction(batch.map((k) => ["delete", k] as TransactionAction)));
    return keys.length;
  }
}

/** What the plan use cases need (the App provides it). */
export interface PlanDeps {
  tables: { runPlans: TableClient };
  runs: RunStore;
}

/**
 * The stored Immutable ID plan of a run (API `GET /api/tenants/{tenantId}/runs/{runId}/plan`, CLI `entra-sync plan`).
 * A run whose plan equals an earlier run's points at that run's rows. Empty when the run planned nothing; throws
 * RUN_NOT_FOUND when the run does not exist.
 */
export async function getRunPlan(app: PlanDeps, tenantId: string, runId: string): Promise<PlanEntry[]> {
  const report = await app.runs.get(tenantId, runId);
  if (!report) throw new EntraSyncError("RUN_NOT_FOUND", `Run ${runId} of tenant ${tenantId} does not exist.`, { retryable: false });
  const ref = report.immutableId?.plan;
  if (!ref || ref.entries === 0) return [];
  return new PlanStore(app.tables.runPlans).list(tenantId, ref.runId);
}

const CSV_HEADER = ["entraId", "userPrincipalName", "onPremisesImmutableId", "platformUserId", "action"];

// Values are kept exact (a base64 value may start with + or /): no spreadsheet-formula mangling.
const csvCell = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** A plan as CSV (header row, CRLF line ends as RFC 4180 says). */
export function planToCsv(entries: readonly PlanEntry[]): string {
  const lines = [CSV_HEADER.join(",")];
  for (const e of entries) lines.push([e.entraId, e.userPrincipalName, e.value, e.platformUserId, e.action].map(csvCell).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
