/**
 * Immutable ID sync plans: what a run would write (preview, dry run) or was about to write (mode on), one row per
 * Entra user in the `runplans` table, one partition per run. Plans can hold 100,000 users, so they live apart from
 * the run report, which only points at them.
 */
import { odata, type TableClient, type TransactionAction } from "@azure/data-tables";
import { entryDigest, hashHex } from "../connector/derived.js";
import { EntraSyncError } from "../errors.js";
import type { RunStore } from "../runs/store.js";
import { deleteWhere, getOrUndefined, storageError } from "../state/tables-client.js";
import { mapLimit } from "../util/concurrency.js";
import { FlagTable } from "./value-table.js";

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
/** Sorts before every run's partition (run ids are digits), so no range of run plans includes it. */
const livePk = (tenantId: string) => `${tenantId}_!live`;
/** The time a run id stands for (run ids are inverted milliseconds), epoch ms. */
export const runTime = (runId: string): number => 9_999_999_999_999 - Number(runId.slice(0, 13));
const pad = (ms: number) => String(ms).padStart(15, "0");
type Actionable = Record<string, unknown> & { partitionKey: string; rowKey: string };
/** An entry of a tenant's live plan: a plan entry and the runs it belongs to (from the run at `from`, until `to`). */
interface LiveEntity extends PlanEntity {
  from: number;
  to?: number;
}
const entityOf = (partitionKey: string, rowKey: string, e: { entraId: string; upn: string; value: string; platformUserId: string; action: string }) => ({ partitionKey, rowKey, entraId: e.entraId, upn: e.upn, value: e.value, platformUserId: e.platformUserId, action: e.action });
/** Flags of a full comparison with the live plan: a user has a current entry; it is still planned; unchanged. */
const LIVE_PRESENT = 1;
const LIVE_SEEN = 2;
const LIVE_SAME = 4;
const contentKey = (...fields: string[]) => `\u0000${fields.join("\t")}`;
const sameEntry = (a: LiveEntity, e: PlanEntry) => a.upn === e.userPrincipalName && a.value === e.value && a.platformUserId === e.platformUserId && a.action === e.action;

/**
 * A digest of a plan: two runs with the same digest planned exactly the same writes. It is the sum of the entries'
 * digests, so it does not depend on their order and is kept up to date entry by entry (see connector/derived.ts).
 */
export function planHash(entries: readonly PlanEntry[]): string {
  return hashHex(entries.reduce((a, e) => a + entryDigest(e), 0n));
}

/** Plan order: by UPN, then Entra object id. */
export const byPlanOrder = (a: PlanEntry, b: PlanEntry): number =>
  a.userPrincipalName < b.userPrincipalName ? -1 : a.userPrincipalName > b.userPrincipalName ? 1 : a.entraId < b.entraId ? -1 : 1;

/** Plan rows in Table Storage. */
export class PlanStore {
  constructor(private readonly table: TableClient) {}

  /**
   * Stores a plan (one partition per run), in transactions of 100 as the entries stream by, a few at once: no more
   * than those are held. Rows are numbered in the order given; `list` returns them in plan order.
   */
  async save(tenantId: string, runId: string, entries: AsyncIterable<PlanEntry> | Iterable<PlanEntry>): Promise<void> {
    const pk = partitionOf(tenantId, runId);
    const sending = new Set<Promise<void>>();
    let failed: unknown;
    const send = (actions: TransactionAction[]) => {
      const p: Promise<void> = this.table.submitTransaction(actions).then(
        () => void sending.delete(p),
        (e: unknown) => {
          sending.delete(p);
          failed ??= storageError(e, `store ${actions.length} plan rows of run ${runId}`);
        },
      );
      sending.add(p);
    };
    let actions: TransactionAction[] = [];
    let n = 0;
    for await (const e of entries) {
      const row: PlanEntity = { partitionKey: pk, rowKey: String(n++).padStart(7, "0"), entraId: e.entraId, upn: e.userPrincipalName, value: e.value, platformUserId: e.platformUserId, action: e.action };
      actions.push(["upsert", row as unknown as Record<string, unknown> & { partitionKey: string; rowKey: string }, "Replace"]);
      if (actions.length === 100) {
        send(actions);
        actions = [];
        while (sending.size >= 8) await Promise.race(sending);
      }
      if (failed) break;
    }
    if (actions.length && !failed) send(actions);
    await Promise.all(sending);
    if (failed) throw failed;
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
    return out.sort(byPlanOrder);
  }

  /** True when the plan stored by run `runId` still has its rows (its own, or the live plan's at its time). */
  async exists(tenantId: string, runId: string): Promise<boolean> {
    const live = await this.listLive(tenantId, runId);
    if (live?.length) return true;
    try {
      const pages = this.table.listEntities<PlanEntity>({ queryOptions: { filter: odata`PartitionKey eq ${partitionOf(tenantId, runId)}`, select: ["RowKey"] } }).byPage({ maxPageSize: 1 });
      for await (const page of pages) if (page.length > 0) return true;
      return false;
    } catch (e) {
      throw storageError(e, `read the plan of run ${runId}`);
    }
  }

  /** Deletes a run's own copy of its plan (a dry run's; run pruning). */
  async deleteCopy(tenantId: string, runId: string): Promise<number> {
    return this.deleteWhere(odata`PartitionKey eq ${partitionOf(tenantId, runId)}`, `the plan of run ${runId}`);
  }

  /** Deletes the plan of a run: its own copy, and the live plan as of it and every earlier run. */
  async delete(tenantId: string, runId: string): Promise<number> {
    return (await this.deleteCopy(tenantId, runId)) + (await this.pruneLive(tenantId, runTime(runId) + 1));
  }

  /**
   * Deletes every plan of a tenant stored before `cutoff`. Run ids sort newest first, so these plans are one range
   * of partition keys: the query reads only rows that are deleted.
   */
  async deleteOlderThan(tenantId: string, cutoff: Date): Promise<number> {
    const from = partitionOf(tenantId, (9_999_999_999_999 - cutoff.getTime()).toString().padStart(13, "0"));
    return this.deleteWhere(odata`PartitionKey gt ${from} and PartitionKey lt ${`${tenantId}_~`}`, `plans of tenant ${tenantId} older than ${cutoff.toISOString()}`);
  }

  /**
   * The tenant's live plan: one partition (`<tenant>_!live`) holding every planned user's current entry (`c|<id>`,
   * with the time of the run that planned it) and the entries that since changed or left the plan (`x|<to>|<id>|<from>`).
   * The plan of run R is the entries valid at R's time, so a plan that changed by k users is stored by writing k
   * entries, and every kept run's plan can still be read. A row `m` holds the hash the partition was last brought
   * to, and the time before which plans are gone (pruned or past retention).
   */
  async applyLive(tenantId: string, runId: string, c: { set: readonly PlanEntry[]; removed: readonly string[]; hashBefore: string; hashAfter: string; all: () => AsyncIterable<PlanEntry> }): Promise<void> {
    const partitionKey = livePk(tenantId);
    const at = runTime(runId);
    const meta = await this.liveMeta(tenantId);
    if (meta?.hash === c.hashAfter && c.set.length === 0 && c.removed.length === 0) return;
    // Each change is one or two rows of the one partition: sent in transactions of up to 100 as they are made (a
    // full re-plan changes every user: never all of them held at once), then the hash they lead to.
    let actions: TransactionAction[] = [];
    const push = async (a: TransactionAction) => {
      actions.push(a);
      if (actions.length === 100) {
        const batch = actions;
        actions = [];
        await this.table.submitTransaction(batch);
      }
    };
    const close = (e: LiveEntity) => push(["upsert", { ...entityOf(partitionKey, `x|${pad(at)}|${e.entraId}|${pad(e.from)}`, e), from: e.from, to: at } as Actionable, "Replace"]);
    const put = (e: PlanEntry) => push(["upsert", { ...entityOf(partitionKey, `c|${e.entraId}`, { entraId: e.entraId, upn: e.userPrincipalName, value: e.value, platformUserId: e.platformUserId, action: e.action }), from: at } as Actionable, "Replace"]);
    const currentFilter = odata`PartitionKey eq ${partitionKey} and RowKey ge ${"c|"} and RowKey lt ${"c}"}`;
    try {
      if (!meta || meta.hash !== c.hashBefore) {
        // Out of step (first use, a full re-plan, or a run that died between storing the state and the plan): compare
        // the whole plan once, both sides streamed. Held meanwhile: per current entry the 64-bit hashes of its user
        // and of its content, with flags (value-table.ts); a collision of both lanes would only leave a changed
        // entry's old content standing (about 1 in 10¹⁴ for 100,000 users).
        const known = new FlagTable();
        let present = 0;
        let seen = 0;
        for await (const e of this.streamRows(tenantId, currentFilter)) {
          present++;
          known.set(e.entraId, LIVE_PRESENT);
          known.set(contentKey(e.entraId, e.upn, e.value, e.platformUserId, e.action), LIVE_SAME);
        }
        for await (const e of c.all()) {
          const f = known.get(e.entraId);
          if (f & LIVE_PRESENT) {
            if (!(f & LIVE_SEEN)) seen++;
            known.set(e.entraId, LIVE_SEEN);
            if (known.get(contentKey(e.entraId, e.userPrincipalName, e.value, e.platformUserId, e.action)) & LIVE_SAME) continue;
            const was = await getOrUndefined<LiveEntity>(this.table, partitionKey, `c|${e.entraId}`);
            if (was) await close(was);
          }
          await put(e);
        }
        // Entries no longer planned: present before, not seen now (entries written above are neither, or seen). Read
        // again only when there are some.
        const removals = seen < present ? this.streamRows(tenantId, currentFilter) : [];
        for await (const e of removals) {
          const f = known.get(e.entraId);
          if (!(f & LIVE_PRESENT) || f & LIVE_SEEN) continue;
          await close(e);
          await push(["delete", { partitionKey, rowKey: `c|${e.entraId}` }]);
        }
      } else {
        const current = new Map<string, LiveEntity>();
        const ids = [...new Set([...c.set.map((e) => e.entraId), ...c.removed])];
        const rows = await mapLimit(ids, 32, (id) => getOrUndefined<LiveEntity>(this.table, partitionKey, `c|${id}`));
        for (const r of rows) if (r) current.set(r.entraId, r);
        for (const id of c.removed) {
          const e = current.get(id);
          if (!e) continue;
          await close(e);
          await push(["delete", { partitionKey, rowKey: `c|${id}` }]);
        }
        for (const e of c.set) {
          const was = current.get(e.entraId);
          if (was && sameEntry(was, e)) continue;
          if (was) await close(was);
          await put(e);
        }
      }
      if (actions.length) await this.table.submitTransaction(actions);
      await this.table.upsertEntity({ partitionKey, rowKey: "m", hash: c.hashAfter }, "Merge");
    } catch (e) {
      throw storageError(e, `store the Immutable ID plan of run ${runId}`);
    }
  }

  /** Rows of the plan table a query finds, streamed. */
  private async *streamRows(tenantId: string, filter: string): AsyncIterable<LiveEntity> {
    try {
      for await (const e of this.table.listEntities<LiveEntity>({ queryOptions: { filter } })) yield e as LiveEntity;
    } catch (e) {
      throw storageError(e, `read the Immutable ID plan of tenant ${tenantId}`);
    }
  }

  /** The live plan as it was at run `runId`'s time; undefined when it is gone (pruned or past retention). */
  async listLive(tenantId: string, runId: string): Promise<PlanEntry[] | undefined> {
    const at = runTime(runId);
    const meta = await this.liveMeta(tenantId);
    if (!meta || at < (meta.retainedFrom ?? 0)) return undefined;
    const out: PlanEntry[] = [];
    for (const e of await this.listRows(tenantId, odata`PartitionKey eq ${livePk(tenantId)} and RowKey ge ${"c|"}`)) {
      if (e.from <= at && (e.to === undefined || at < e.to)) out.push({ entraId: e.entraId, userPrincipalName: e.upn, value: e.value, platformUserId: e.platformUserId, action: e.action === "switchUpn" ? "switchUpn" : "write" });
    }
    return out.sort(byPlanOrder);
  }

  /**
   * Forgets the live plan before `before` (epoch ms): entries that left the plan by then are deleted, and plans of
   * runs before it read as gone. Reads only the rows it deletes.
   */
  async pruneLive(tenantId: string, before: number): Promise<number> {
    const meta = await this.liveMeta(tenantId);
    if (!meta || (meta.retainedFrom ?? 0) >= before) return 0;
    const partitionKey = livePk(tenantId);
    const n = await this.deleteWhere(odata`PartitionKey eq ${partitionKey} and RowKey ge ${"x|"} and RowKey le ${`x|${pad(before)}|~`}`, `Immutable ID plan entries of tenant ${tenantId} before ${new Date(before).toISOString()}`);
    try {
      await this.table.upsertEntity({ partitionKey, rowKey: "m", retainedFrom: before }, "Merge");
    } catch (e) {
      throw storageError(e, `prune the Immutable ID plan of tenant ${tenantId}`);
    }
    return n;
  }

  private async liveMeta(tenantId: string): Promise<{ hash?: string; retainedFrom?: number } | undefined> {
    return getOrUndefined<{ hash?: string; retainedFrom?: number }>(this.table, livePk(tenantId), "m");
  }

  private async listRows(tenantId: string, filter: string): Promise<LiveEntity[]> {
    const out: LiveEntity[] = [];
    try {
      for await (const e of this.table.listEntities<LiveEntity>({ queryOptions: { filter } })) out.push(e as LiveEntity);
    } catch (e) {
      throw storageError(e, `read the Immutable ID plan of tenant ${tenantId}`);
    }
    return out;
  }

  private deleteWhere(filter: string, what: string): Promise<number> {
    return deleteWhere(this.table, filter, `delete ${what}`);
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
  const store = new PlanStore(app.tables.runPlans);
  const entries = ref.live ? ((await store.listLive(tenantId, ref.runId)) ?? []) : await store.list(tenantId, ref.runId);
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
