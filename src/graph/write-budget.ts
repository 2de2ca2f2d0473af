/**
 * Graph's write budget for one app in one tenant, as a pacer. Every PATCH entra-sync sends (first attempts and
 * retries alike) takes a token first, so throttling stays the exception rather than the way the rate is found.
 *
 * Graph counts the writes of an app in a tenant, whichever process sends them. `SharedWriteBudget` is therefore the
 * one the runs use: its state is one row in the tenant state table, shared by every invocation, continuation and
 * CLI run. `WriteBudget` paces within one process only (tests and tools that own a tenant alone).
 */
import type { TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { getOrUndefined, isConflict, isPreconditionFailed, storageError } from "../state/tables-client.js";
import { sleep } from "../util/concurrency.js";

export interface WriteBudgetOptions {
  /** Writes allowed per window (Graph: 3,000 per app per tenant). */
  writes: number;
  /** Window length in ms (Graph: 150,000). Scale writes and window together to keep the rate. */
  windowMs: number;
  /** Fraction of the budget entra-sync uses, leaving room for timing jitter and other writers. Default 0.98. */
  headroom?: number;
  /** Writes that may go at once at the start (a fresh window). Default: the budget × headroom. */
  burst?: number;
}

/** What the writers need of a budget: wait until `n` writes may go, and count them. */
export interface WritePacer {
  take(n: number): Promise<void>;
}

/** Microsoft's documented write limit for identity and access (per app per tenant). */
export const GRAPH_WRITE_BUDGET: WriteBudgetOptions = { writes: 3000, windowMs: 150_000 };

/** Default share of Graph's budget the pacer uses. */
export const DEFAULT_HEADROOM = 0.98;

/** The write budget scaled the way the simulator's `windowScale` scales it (same rate, shorter window). */
export const scaledWriteBudget = (windowScale: number): WriteBudgetOptions => ({ writes: Math.max(1, Math.round(3000 * windowScale)), windowMs: 150_000 * windowScale });

/** The pacing a budget implies: ms per write and how many writes may go at once. */
function pacing(o: WriteBudgetOptions): { msPerWrite: number; burst: number } {
  const headroom = o.headroom ?? DEFAULT_HEADROOM;
  return { msPerWrite: o.windowMs / (o.writes * headroom), burst: Math.max(1, o.burst ?? Math.floor(o.writes * headroom)) };
}

/** A FIFO token bucket in one process: `take(n)` resolves when n tokens were available and takes them. */
export class WriteBudget implements WritePacer {
  private tokens: number;
  private last = performance.now();
  private readonly perMs: number;
  private readonly capacity: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(o: WriteBudgetOptions = GRAPH_WRITE_BUDGET) {
    const p = pacing(o);
    this.perMs = 1 / p.msPerWrite;
    this.capacity = p.burst;
    this.tokens = this.capacity;
  }


  take(n: number): Promise<void> {
    const want = Math.min(n, this.capacity);
    const turn = this.queue.then(async () => {
      for (;;) {
        const now = performance.now();
        this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMs);
        this.last = now;
        if (this.tokens >= want) {
          this.tokens -= want;
          return;
        }
        await sleep(Math.ceil((want - this.tokens) / this.perMs));
      }
    });
    this.queue = turn;
    return turn;
  }
}

/** RowKey prefix of the write budget rows in the tenant state table (PartitionKey = tenant id; one row per app). */
export const WRITE_BUDGET_ROW = "writebudget";

interface BudgetEntity {
  partitionKey: string;
  rowKey: string;
  /** Epoch ms at which every write counted so far has been paid back (the bucket is full again). */
  fullAt: number;
}

export interface SharedWriteBudgetOptions extends WriteBudgetOptions {
  /** Wall clock (epoch ms); all processes sharing a budget compare it with the row's `fullAt`. */
  now?: () => number;
}

/**
 * One app's write budget in one tenant, shared by every process through one row (a generic cell rate algorithm:
 * the row holds the time at which the bucket is full again; a write moves it on by window ÷ writes, and may go
 * while it stays within a burst of now). Each process reserves writes in chunks (one ETag-guarded table round trip
 * per chunk) and hands them out in order; a chunk is at most 2 % of the burst (at least the request), so a reserved
 * write reaches Graph well within the budget's headroom of its reservation. Writes reserved but not sent when an
 * invocation ends are simply not used: the pacing errs on the safe side.
 */
export class SharedWriteBudget implements WritePacer {
  private readonly msPerWrite: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly rowKey: string;
  private tokens = 0;
  private queue: Promise<void> = Promise.resolve();
  private row: { fullAt: number; etag: string } | null | undefined;
  /** Table round trips made (reads and writes), for tests and the bench. */
  roundTrips = 0;

  constructor(
    private readonly table: TableClient,
    private readonly tenantId: string,
    clientId: string,
    o: SharedWriteBudgetOptions = GRAPH_WRITE_BUDGET,
  ) {
    const p = pacing(o);
    this.msPerWrite = p.msPerWrite;
    this.burst = p.burst;
    this.now = o.now ?? Date.now;
    this.rowKey = `${WRITE_BUDGET_ROW}-${clientId.toLowerCase()}`;
  }


  take(n: number): Promise<void> {
    const want = Math.min(n, this.burst);
    const turn = this.queue.then(async () => {
      if (this.tokens < want) await this.reserve(Math.max(want - this.tokens, Math.min(this.burst, Math.max(want, Math.floor(this.burst / 50)))));
      this.tokens -= want;
    });
    this.queue = turn;
    return turn;
  }

  /** Adds `k` writes to the shared row, waiting until they fit in the burst; retries on a concurrent change. */
  private async reserve(k: number): Promise<void> {
    for (;;) {
      if (this.row === undefined) await this.read();
      const now = this.now();
      const fullAt = Math.max(this.row?.fullAt ?? 0, now) + k * this.msPerWrite;
      const wait = fullAt - this.burst * this.msPerWrite - now;
      if (wait > 0) {
        await sleep(Math.ceil(wait));
        this.row = undefined; // someone else may have written meanwhile: read afresh
        continue;
      }
      if (await this.write(fullAt)) {
        this.tokens += k;
        return;
      }
      this.row = undefined;
    }
  }

  private async read(): Promise<void> {
    this.roundTrips++;
    const e = await getOrUndefined<BudgetEntity>(this.table, this.tenantId, this.rowKey);
    this.row = e ? { fullAt: Number(e.fullAt) || 0, etag: e.etag } : null;
  }

  /** True when the row now holds `fullAt`; false when another process changed it first. */
  private async write(fullAt: number): Promise<boolean> {
    this.roundTrips++;
    const entity: BudgetEntity = { partitionKey: this.tenantId, rowKey: this.rowKey, fullAt };
    try {
      const r = this.row ? await this.table.updateEntity(entity, "Replace", { etag: this.row.etag }) : await this.table.createEntity(entity);
      if (!r.etag) throw new EntraSyncError("STORAGE_FAILED", `Table Storage gave no ETag for the write budget of tenant ${this.tenantId}.`);
      this.row = { fullAt, etag: r.etag };
      return true;
    } catch (e) {
      if (isPreconditionFailed(e) || isConflict(e)) return false;
      throw storageError(e, `update the write budget of tenant ${this.tenantId}`);
    }
  }
}
