/**
 * Graph's write budget for one app in one tenant, as a pacer: a token bucket that refills at the budget's rate.
 * Every PATCH entra-sync sends (first attempts and retries alike) takes a token first, so throttling stays the
 * exception rather than the way the rate is found.
 */
import { sleep } from "../util/concurrency.js";

export interface WriteBudgetOptions {
  /** Writes allowed per window (Graph: 3,000 per app per tenant). */
  writes: number;
  /** Window length in ms (Graph: 150,000). Scale writes and window together to keep the rate. */
  windowMs: number;
  /** Fraction of the budget entra-sync uses, leaving room for timing jitter and other writers. Default 0.95. */
  headroom?: number;
  /** Writes that may go at once at the start (a fresh window). Default: the budget × headroom. */
  burst?: number;
}

/** Microsoft's documented write limit for identity and access (per app per tenant). */
export const GRAPH_WRITE_BUDGET: WriteBudgetOptions = { writes: 3000, windowMs: 150_000 };

/** The write budget scaled the way the simulator's `windowScale` scales it (same rate, shorter window). */
export const scaledWriteBudget = (windowScale: number): WriteBudgetOptions => ({ writes: Math.max(1, Math.round(3000 * windowScale)), windowMs: 150_000 * windowScale });

/** A FIFO token bucket: `take(n)` resolves when n tokens were available and takes them. */
export class WriteBudget {
  private tokens: number;
  private last = performance.now();
  private readonly perMs: number;
  private readonly capacity: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(o: WriteBudgetOptions = GRAPH_WRITE_BUDGET) {
    const headroom = o.headroom ?? 0.95;
    this.perMs = (o.writes * headroom) / o.windowMs;
    this.capacity = Math.max(1, o.burst ?? Math.floor(o.writes * headroom));
    this.tokens = this.capacity;
  }

  /** Writes per second this budget paces to in the long run. */
  get ratePerSecond(): number {
    return this.perMs * 1000;
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
