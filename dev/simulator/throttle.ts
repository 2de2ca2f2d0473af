/**
 * Graph identity-and-access throttling, modelled with TOKEN BUCKETS that refill continuously
 * (capacity = the budget, refill rate = budget / window). A full bucket lets a burst of a whole
 * budget through at once, then the request rate is capped at budget/window — the same long-run
 * behaviour as Microsoft's sliding windows, with an exact Retry-After (time until the deficit refills).
 * Throttle windows run on real time (performance.now), not on the simulator's clock.
 */
import { performance } from "node:perf_hooks";

export interface ThrottleOptions {
  /** Multiplies window lengths AND budgets (0.1 => 300 writes per 15 s: same rate, shorter wait). Default 1. */
  windowScale?: number;
  /** Override of the size-based read budget (resource units per 10 s). */
  readUnitsPer10s?: number;
  /** Default 3000 (per app per tenant). */
  writesPer150s?: number;
  /** Default 18000 (per tenant, all apps). */
  tenantWritesPer5min?: number;
}

class Bucket {
  tokens: number;
  last: number;
  constructor(
    public capacity: number,
    public windowMs: number,
  ) {
    this.tokens = capacity;
    this.last = performance.now();
  }
  private refill(): void {
    const now = performance.now();
    const rate = this.capacity / this.windowMs;
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * rate);
    this.last = now;
  }
  setCapacity(capacity: number): void {
    this.refill();
    if (capacity !== this.capacity) {
      const used = this.capacity - this.tokens;
      this.capacity = capacity;
      this.tokens = Math.max(0, capacity - used);
    }
  }
  /** ms until `cost` fits, 0 if it fits now. */
  waitFor(cost: number): number {
    this.refill();
    const c = Math.min(cost, this.capacity);
    if (this.tokens >= c) return 0;
    return ((c - this.tokens) * this.windowMs) / this.capacity;
  }
  take(cost: number): void {
    this.tokens -= Math.min(cost, this.capacity);
  }
  usage(): number {
    this.refill();
    return (this.capacity - this.tokens) / this.capacity;
  }
}

export interface ThrottleDecision {
  ok: boolean;
  /** whole seconds >= 1 when !ok */
  retryAfter?: number;
  scope?: string;
  information?: string;
  /** fraction of the tightest budget in use after this request (0..1) */
  usage: number;
}

export function readBudgetFor(activeUsers: number): number {
  if (activeUsers < 50) return 3500;
  if (activeUsers <= 500) return 5000;
  return 8000;
}

export class Throttler {
  private opts: ThrottleOptions | false;
  private reads = new Map<string, Bucket>();
  private appWrites = new Map<string, Bucket>();
  private tenantWrites = new Map<string, Bucket>();

  constructor(opts: ThrottleOptions | false | undefined) {
    this.opts = opts === undefined ? {} : opts;
  }

  configure(opts: ThrottleOptions | false): void {
    this.opts = opts;
    this.reads.clear();
    this.appWrites.clear();
    this.tenantWrites.clear();
  }

  private scale(): number {
    return this.opts === false ? 1 : (this.opts.windowScale ?? 1);
  }

  private bucket(map: Map<string, Bucket>, key: string, capacity: number, windowMs: number): Bucket {
    let b = map.get(key);
    if (!b) {
      b = new Bucket(capacity, windowMs);
      map.set(key, b);
    } else {
      b.setCapacity(capacity);
    }
    return b;
  }

  /**
   * The per-app write limit as configured (window scale applied): the numbers an app's write budget must take to
   * match this model, e.g. GRAPH_WRITE_LIMIT and GRAPH_WRITE_WINDOW_SECONDS of a local stack.
   */
  writeLimit(): { writes: number; windowSeconds: number } {
    const s = this.scale();
    const writes = this.opts === false ? 3000 : (this.opts.writesPer150s ?? 3000);
    return { writes: Math.max(1, writes * s), windowSeconds: 150 * s };
  }

  read(tenantId: string, appId: string, cost: number, activeUsers: number): ThrottleDecision {
    if (this.opts === false) return { ok: true, usage: 0 };
    const s = this.scale();
    const budget = Math.max(1, (this.opts.readUnitsPer10s ?? readBudgetFor(activeUsers)) * s);
    const b = this.bucket(this.reads, `${tenantId}|${appId}`, budget, 10_000 * s);
    const wait = b.waitFor(cost);
    if (wait > 0) {
      return {
        ok: false,
        retryAfter: Math.max(1, Math.ceil(wait / 1000)),
        scope: `Tenant_Application/ReadWrite/${tenantId}/${appId}`,
        information: "ResourceUnitLimitExceeded",
        usage: b.usage(),
      };
    }
    b.take(cost);
    return { ok: true, usage: b.usage() };
  }

  write(tenantId: string, appId: string): ThrottleDecision {
    if (this.opts === false) return { ok: true, usage: 0 };
    const s = this.scale();
    const app = this.bucket(this.appWrites, `${tenantId}|${appId}`, Math.max(1, (this.opts.writesPer150s ?? 3000) * s), 150_000 * s);
    const ten = this.bucket(this.tenantWrites, tenantId, Math.max(1, (this.opts.tenantWritesPer5min ?? 18000) * s), 300_000 * s);
    const waitApp = app.waitFor(1);
    const waitTen = ten.waitFor(1);
    if (waitApp > 0 || waitTen > 0) {
      const tenantBound = waitTen >= waitApp;
      return {
        ok: false,
        retryAfter: Math.max(1, Math.ceil(Math.max(waitApp, waitTen) / 1000)),
        scope: tenantBound ? `Tenant/ReadWrite/${tenantId}` : `Tenant_Application/ReadWrite/${tenantId}/${appId}`,
        information: tenantBound ? "TenantWriteLimitExceeded" : "ApplicationWriteLimitExceeded",
        usage: Math.max(app.usage(), ten.usage()),
      };
    }
    app.take(1);
    ten.take(1);
    return { ok: true, usage: Math.max(app.usage(), ten.usage()) };
  }
}
