/**
 * A token bucket per SCIM token, in this process's memory: `ratePerSecond` sustained, `burst` at once. Entra's
 * provisioning service pushes at least 25 requests/s per tenant, so the defaults leave it room. Instances do not share
 * buckets (a scaled-out app allows that much per instance).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly ratePerSecond = 50,
    readonly burst = 100,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Takes one request from the key's bucket: 0 if allowed, else the whole seconds to wait (for Retry-After). */
  take(key: string): number {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerSecond));
  }
}
