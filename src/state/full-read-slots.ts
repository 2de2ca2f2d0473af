/**
 * Admission control for full reads: at most `limit` runs read a tenant in full (an initial delta round) at once per
 * storage account, whatever instance works on them, so that onboarding many schools or a term start cannot saturate
 * the account. Slots and the waiting line are rows of the tenant state table in a partition of their own, every
 * write guarded by its ETag; a slot expires unless renewed, so a crashed worker frees it. Waiters are admitted in
 * order of their run's queuedAt (then run id): first come, first served across every instance.
 */
import { odata, type TableClient } from "@azure/data-tables";
import { isConflict, isNotFound, isPreconditionFailed, storageError } from "./tables-client.js";

/** The partition of the tenant state table that holds the slots and the waiting line (no tenant id starts with `!`). */
export const ADMISSION_PARTITION = "!fullreads";

const SLOT = "slot-";
const WAIT = "wait-";
/** The longest a run far back in line waits before it asks again (well within a queued lease's hour). */
const ASK_AGAIN_MAX_MS = 10 * 60_000;
/** The first key after every `slot-…` key ("." follows "-"). */
const SLOT_END = "slot.";

interface SlotEntity {
  partitionKey: string;
  rowKey: string;
  runId: string;
  tenantId: string;
  expiresAt: string;
}

/** What a run asks admission for. */
export interface AdmissionRequest {
  tenantId: string;
  runId: string;
  /** When the run was queued (its place in the line). */
  queuedAt: string;
}

export type Admission =
  | { admitted: true; slot: number }
  | {
      admitted: false;
      /** 1 for the first in line. */
      position: number;
      /**
       * True when `position` is a lower bound: the line ahead is read only as far as the back-off needs (every run
       * further back than that asks again after the longest wait), so a burst of runs queued at once does not read
       * Σ position rows on its first asks.
       */
      atLeast?: boolean;
      inUse: number;
      limit: number;
      /** When to ask again: `askEveryMs` × ⌈position ÷ limit⌉, at most 10 minutes (a run far back in line asks less often). */
      askAgainMs: number;
    };

export interface FullReadSlotTimes {
  /** How long a slot stays taken without being renewed (a crashed worker's slot frees after this). */
  holdMs: number;
  /** How long a place in line is kept without its run asking again (a lost job's place frees after this). */
  waitMs: number;
  /** How often a run at the front of the line asks again (the worker's deferral; default 30 s). */
  askEveryMs?: number;
}

/** The slots of one storage account. */
export class FullReadSlots {
  constructor(
    private readonly table: TableClient,
    private readonly clock: () => Date,
    readonly limit: number,
    readonly times: FullReadSlotTimes,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the full-read limit must be a whole number ≥ 1, got ${limit}`);
  }

  /**
   * Admits the run to a full read, or puts it in line. A run that holds a slot keeps it (its expiry renewed). A free
   * slot goes to the run only when fewer waiters queued before it are still waiting than there are free slots.
   * Reads the slots and the places in line ahead of this run's, never the whole line: an ask costs O(position), and
   * a run at position p asks again after askEveryMs × ⌈p ÷ limit⌉ (at most 10 minutes), so 1,000 runs waiting for
   * 8 slots, asking every 30 s at the front, read ~870 rows/s in all, not the ~33,600 of every ask reading the whole
   * line. Places further ahead than that back-off needs are not read (the position is then a lower bound). Two
   * queries and one or two writes per call.
   */
  async acquire(req: AdmissionRequest): Promise<Admission> {
    const waitKey = `${WAIT}${req.queuedAt}|${req.runId}`;
    for (let attempt = 0; attempt < 8; attempt++) {
      const now = this.clock().getTime();
      const slots = await this.readSlots();
      const live = (e: SlotEntity) => e.runId !== "" && Date.parse(e.expiresAt) > now;
      const mine = slots.find((s) => s.runId === req.runId && s.index < this.limit);
      if (mine) {
        if (await this.writeSlot(mine.index, req, mine.etag)) return this.admitted(mine.index, waitKey, false); // its place went when it was admitted
        continue;
      }
      // The places ahead of this run's (and its own); those whose runs stopped asking (a lost job) go, so the line
      // stays as long as it is.
      // Read only as far as the back-off needs: past `farthest` places ahead, every run asks again after the longest
      // wait, and no slot can be free for it (farthest ≥ limit).
      const farthest = this.limit * Math.ceil(ASK_AGAIN_MAX_MS / this.askEveryMs);
      let ahead = 0;
      let inLine = false;
      for await (const w of this.readWaiters(waitKey, farthest)) {
        if (w.runId === req.runId) inLine ||= w.rowKey === waitKey;
        else if (live(w)) ahead++;
        else if (attempt === 0) await this.delete(w.rowKey, w.etag);
        if (ahead >= farthest) break;
      }
      const byIndex = new Map(slots.map((s) => [s.index, s]));
      const free: number[] = [];
      for (let i = 0; i < this.limit; i++) {
        const s = byIndex.get(i);
        if (!s || !live(s)) free.push(i);
      }
      if (ahead < free.length) {
        // Any of the slots the runs ahead leave over; picked at random so that simultaneous askers rarely collide.
        const index = free[ahead + Math.floor(Math.random() * (free.length - ahead))]!;
        if (await this.writeSlot(index, req, byIndex.get(index)?.etag ?? null)) return this.admitted(index, waitKey, inLine);
        continue; // another instance took it first: look again
      }
      const position = ahead + 1;
      const askAgainMs = Math.max(this.askEveryMs, Math.min(ASK_AGAIN_MAX_MS, this.askEveryMs * Math.ceil(position / this.limit)));
      // The place is kept for as long as the run is told to wait, plus the usual slack.
      await this.upsert({ partitionKey: ADMISSION_PARTITION, rowKey: waitKey, runId: req.runId, tenantId: req.tenantId, expiresAt: new Date(now + this.times.waitMs + askAgainMs - this.askEveryMs).toISOString() });
      return { admitted: false, position, ...(ahead >= farthest ? { atLeast: true } : {}), inUse: this.limit - free.length, limit: this.limit, askAgainMs };
    }
    // Eight lost races in a row: many instances are after the same slots. Wait like anyone else.
    const slots = await this.readSlots();
    return { admitted: false, position: 1, inUse: Math.min(this.limit, slots.length), limit: this.limit, askAgainMs: this.askEveryMs };
  }

  private get askEveryMs(): number {
    return this.times.askEveryMs ?? 30_000;
  }

  /** Frees the slot `runId` holds, if any (the run ended; its place in line went when it was admitted). */
  async release(runId: string): Promise<void> {
    for (const s of await this.readSlots()) if (s.runId === runId) await this.delete(s.rowKey, s.etag);
  }

  /** Slots in use and runs waiting now (status, tests). */
  async snapshot(): Promise<{ inUse: Array<{ tenantId: string; runId: string }>; waiting: Array<{ tenantId: string; runId: string }> }> {
    const now = this.clock().getTime();
    const { slots, waiters } = await this.read();
    const live = (e: SlotEntity) => e.runId !== "" && Date.parse(e.expiresAt) > now;
    return { inUse: slots.filter((s) => live(s) && s.index < this.limit).map(({ tenantId, runId }) => ({ tenantId, runId })), waiting: waiters.filter(live).map(({ tenantId, runId }) => ({ tenantId, runId })) };
  }

  private async admitted(index: number, waitKey: string, inLine: boolean): Promise<Admission> {
    if (inLine) await this.delete(waitKey, "*"); // its place in line
    return { admitted: true, slot: index };
  }

  /** The slot rows (at most `limit`, and any left from a larger limit before). */
  private async readSlots(): Promise<Array<SlotEntity & { etag: string; index: number }>> {
    return (await this.query(odata`PartitionKey eq ${ADMISSION_PARTITION} and RowKey ge ${SLOT} and RowKey lt ${SLOT_END}`)).map((row) => ({ ...row, index: Number(row.rowKey.slice(SLOT.length)) }));
  }

  /**
   * The places in line up to `waitKey` (the run's own included), in line order (a partition's rows come by RowKey),
   * read `pageSize` at a time as the caller goes on (it may stop early).
   */
  private async *readWaiters(waitKey: string, pageSize: number): AsyncIterable<SlotEntity & { etag: string }> {
    try {
      const pages = this.table.listEntities<SlotEntity>({ queryOptions: { filter: odata`PartitionKey eq ${ADMISSION_PARTITION} and RowKey ge ${WAIT} and RowKey le ${waitKey}` } }).byPage({ maxPageSize: Math.min(1000, pageSize) });
      for await (const page of pages) for (const e of page) yield e as SlotEntity & { etag: string };
    } catch (e) {
      throw storageError(e, "read the full-read slots");
    }
  }

  private async query(filter: string): Promise<Array<SlotEntity & { etag: string }>> {
    const rows: Array<SlotEntity & { etag: string }> = [];
    try {
      for await (const e of this.table.listEntities<SlotEntity>({ queryOptions: { filter } })) rows.push(e as SlotEntity & { etag: string });
    } catch (e) {
      throw storageError(e, "read the full-read slots");
    }
    return rows;
  }

  private async read(): Promise<{ slots: Array<SlotEntity & { etag: string; index: number }>; waiters: Array<SlotEntity & { etag: string }> }> {
    const slots: Array<SlotEntity & { etag: string; index: number }> = [];
    const waiters: Array<SlotEntity & { etag: string }> = [];
    try {
      for await (const e of this.table.listEntities<SlotEntity>({ queryOptions: { filter: odata`PartitionKey eq ${ADMISSION_PARTITION}` } })) {
        const row = e as SlotEntity & { etag: string };
        if (row.rowKey.startsWith(SLOT)) slots.push({ ...row, index: Number(row.rowKey.slice(SLOT.length)) });
        else if (row.rowKey.startsWith(WAIT)) waiters.push(row);
      }
    } catch (e) {
      throw storageError(e, "read the full-read slots");
    }
    waiters.sort((a, b) => (a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : 0));
    return { slots, waiters };
  }

  /** Takes (or renews) slot `index` for the run: create when `etag` is null, else replace if unchanged. False on a lost race. */
  private async writeSlot(index: number, req: AdmissionRequest, etag: string | null): Promise<boolean> {
    const e: SlotEntity = { partitionKey: ADMISSION_PARTITION, rowKey: `${SLOT}${String(index).padStart(4, "0")}`, runId: req.runId, tenantId: req.tenantId, expiresAt: new Date(this.clock().getTime() + this.times.holdMs).toISOString() };
    try {
      if (etag === null) await this.table.createEntity(e);
      else await this.table.updateEntity(e, "Replace", { etag });
      return true;
    } catch (err) {
      if (isConflict(err) || isPreconditionFailed(err) || isNotFound(err)) return false;
      throw storageError(err, "take a full-read slot");
    }
  }

  private async upsert(e: SlotEntity): Promise<void> {
    try {
      await this.table.upsertEntity(e, "Replace");
    } catch (err) {
      throw storageError(err, "wait for a full-read slot");
    }
  }

  private async delete(rowKey: string, etag: string): Promise<void> {
    try {
      await this.table.deleteEntity(ADMISSION_PARTITION, rowKey, { etag });
    } catch (err) {
      if (isNotFound(err) || isPreconditionFailed(err)) return;
      throw storageError(err, "free a full-read slot");
    }
  }
}
