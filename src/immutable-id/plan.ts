/**
 * Immutable ID sync plans: what a run would write (preview, dry run) or was about to write (mode on), one row per
 * Entra user in the `runplans` table, one partition per run. Plans can hold 100,000 users, so they live apart from
 * the run report, which only points at them.
 */
import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { entryDigest, hashHex } from "../connector/derived.js";
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

/**
 * A digest of a plan: two runs with the same digest planned exactly the same writes. It is the sum of the entries'
 * digests, so it does not depend on their order and is kept up to date entry by entry (see connector/derived.ts).
 */
export function planHash(entries: readonly PlanEntry[]): string {
  return hashHex(entries.reduce((a, e) => a + entryDigest(e), 0n));
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

  /** True when the plan stored by run `runId` still has its rows. */
  async exists(tenantId: string, runId: string): Promise<boolean> {
    try {
      const pages = this.table.listEntities<PlanEntity>({ queryOptions: { filter: odata`PartitionKey eq ${partitionOf(tenantId, runId)}`, select: ["RowKey"] } }).byPage({ maxPageSize: 1 });
      for await (const page of pages) if (page.length > 0) return true;
      return false;
    } catch (e) {
      throw storageError(e, `read the plan of run ${runId}`);
    }
  }

  /** Deletes a run's plan rows (run pruning). */
  async delete(tenantId: string, runId: string): Promise<number> {
    return this.deleteWhere(odata`PartitionKey eq ${partitionOf(tenantId, runId)}`, `the plan of run ${runId}`);
  }

  /**
   * Deletes every plan of a tenant stored before `cutoff`. Run ids sort newest first, so these plans are one range
   * of partition keys: the query reads only rows that are deleted.
   */
  async deleteOlderThan(tenantId: string, cutoff: Date): Promise<number> {
    const from = partitionOf(tenantId, (9_999_999_999_999 - cutoff.getTime()).toString().padStart(13, "0"));
    return this.deleteWhere(odata`PartitionKey gt ${from} and PartitionKey lt ${`${tenantId}_~`}`, `plans of tenant ${tenantId} older than ${cutoff.toISOString()}`);
  }

  private async deleteWhere(filter: string, what: string): Promise<number> {
    const byPartition = new Map<string, Array<{ partitionKey: string; rowKey: string }>>();
    try {
      for await (const e of this.table.listEntities<PlanEntity>({ queryOptions: { filter, select: ["PartitionKey", "RowKey"] } })) {
        const list = byPartition.get(e.partitionKey) ?? [];
        list.push({ partitionKey: e.partitionKey, rowKey: e.rowKey });
        byPartition.set(e.partitionKey, list);
      }
      const batches = [...byPartition.values()].flatMap((keys) => chunk(keys, 100));
      await mapLimit(batches, 8, (batch) => this.table.submitTransaction(batch.map((k) => ["delete", k] as TransactionAction)));
    } catch (e) {
      throw storageError(e, `delete ${what}`);
    }
    return [...byPartition.values()].reduce((n, l) => n + l.length, 0);
  }
}

const entryKey = (e: PlanEntry) => `${e.entraId}\t${e.value}\t${e.platformUserId}\t${e.action}`;

/**
 * Compares a fresh plan with the reviewed one. An entry holds when the reviewed plan has it unchanged (same user,
 * value, platform user and action); `changed` are users of the reviewed plan whose entry differs now, `added` users
 * the reviewed plan did not hold at all, `dropped` reviewed entries that no longer hold (changed ones included).
 */
export function comparePlans<T extends PlanEntry>(reviewed: readonly PlanEntry[], fresh: readonly T[]): { holding: T[]; changed: T[]; added: T[]; dropped: number } {
  const keys = new Set(reviewed.map(entryKey));
  const users = new Set(reviewed.map((e) => e.entraId));
  const out = { holding: [] as T[], changed: [] as T[], added: [] as T[], dropped: 0 };
  for (const e of fresh) (keys.has(entryKey(e)) ? out.holding : users.has(e.entraId) ? out.changed : out.added).push(e);
  out.dropped = reviewed.length - out.holding.length;
  return out;
}

/** What the plan use cases need (the App provides it). */
export interface PlanDeps {
  tables: { runPlans: TableClient };
  runs: RunStore;
}

/**
 * The stored Immutable ID plan of a run (API `GET /api/tenants/{tenantId}/runs/{runId}/plan`, CLI `entra-sync plan`).
 * A run whose plan equals an earlier run's points at that run's rows. Empty when the run planned and found nothing
 * to write; throws RUN_NOT_FOUND when the run does not exist and PLAN_NOT_FOUND when it has no plan (not yet
 * planned, or no Immutable ID step).
 */
export async function getRunPlan(app: PlanDeps, tenantId: string, runId: string): Promise<PlanEntry[]> {
  const report = await app.runs.get(tenantId, runId);
  if (!report) throw new EntraSyncError("RUN_NOT_FOUND", `Run ${runId} of tenant ${tenantId} does not exist.`, { retryable: false });
  const ref = report.immutableId?.plan;
  if (!ref) {
    const why =
      report.status === "queued" || report.status === "running"
        ? `it is ${report.status} and has not planned yet; ask again when it has ended (entra-sync runs --tenant ${tenantId})`
        : `it ran no Immutable ID step (the tenant's Immutable ID mode was off, the run was --only update, or it ended before planning)`;
    throw new EntraSyncError("PLAN_NOT_FOUND", `Run ${runId} of tenant ${tenantId} has no Immutable ID plan: ${why}.`, { retryable: false, details: { status: report.status } });
  }
  if (ref.entries === 0) return [];
  const entries = await new PlanStore(app.tables.runPlans).list(tenantId, ref.runId);
  if (entries.length === 0) throw planGone(tenantId, runId, ref.runId);
  return entries;
}

const planGone = (tenantId: string, runId: string, storedBy: string) =>
  new EntraSyncError("PLAN_NOT_FOUND", `The Immutable ID plan of run ${runId}${storedBy === runId ? "" : ` (stored by run ${storedBy})`} of tenant ${tenantId} was deleted: plans are kept PLAN_RETENTION_DAYS days and go with their runs. Plan again (a preview or --dry-run run) and review that plan.`, { retryable: false });

/**
 * Checks, before a run is created, that `planRunId` names a reviewed plan a forced run can write: a run of this
 * tenant whose plan is still stored and holds entries. Throws INPUT_INVALID (field forcePlan) saying what to fix.
 */
export async function checkForcePlan(app: PlanDeps, tenantId: string, planRunId: string): Promise<void> {
  const bad = (why: string) => new EntraSyncError("INPUT_INVALID", `forcePlan ${planRunId}: ${why}`, { field: "forcePlan", retryable: false });
  const report = await app.runs.get(tenantId, planRunId);
  if (!report) throw bad(`no such run of tenant ${tenantId} (run history and plans are pruned after a while). Name the run whose plan you reviewed: entra-sync runs --tenant ${tenantId}.`);
  const ref = report.immutableId?.plan;
  if (!ref || ref.entries === 0) throw bad(`that run planned no ImmutableId writes. Name a run whose plan you reviewed (a preview, --dry-run or over-cap run).`);
  if (!(await new PlanStore(app.tables.runPlans).exists(tenantId, ref.runId))) throw bad(planGone(tenantId, planRunId, ref.runId).message);
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
