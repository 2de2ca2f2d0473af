/** Injected faults (one-shot or counted) and seeded random faults. */
import { prng } from "./util.js";

export interface FaultSpec {
  method?: string;
  /** substring, or a regular expression source, matched against the decoded path + query */
  path?: string;
  tenantId?: string;
  /** how many requests it hits; default 1 */
  count?: number;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  resetConnection?: boolean;
}

interface ActiveFault {
  id: string;
  spec: FaultSpec;
  re: RegExp | undefined;
  remaining: number;
}

export interface RandomFaults {
  rate429?: number;
  rate5xx?: number;
  seed?: number;
}

export class Faults {
  private active: ActiveFault[] = [];
  private nextId = 1;
  private random: { rate429: number; rate5xx: number } = { rate429: 0, rate5xx: 0 };
  private rng: () => number = prng(1);

  inject(spec: FaultSpec): string {
    if (typeof spec.status !== "number") throw new Error("injectFault: status is required");
    let re: RegExp | undefined;
    if (spec.path !== undefined) {
      try {
        re = new RegExp(spec.path);
      } catch {
        re = undefined;
      }
    }
    const id = `fault-${this.nextId++}`;
    this.active.push({ id, spec, re, remaining: spec.count ?? 1 });
    return id;
  }

  clear(): void {
    this.active = [];
  }

  match(method: string, pathAndQuery: string, tenantId: string | undefined): FaultSpec | undefined {
    for (const f of this.active) {
      const s = f.spec;
      if (s.method && s.method.toUpperCase() !== method.toUpperCase()) continue;
      if (s.tenantId && s.tenantId.toLowerCase() !== tenantId?.toLowerCase()) continue;
      if (s.path !== undefined && !pathAndQuery.includes(s.path) && !(f.re && f.re.test(pathAndQuery))) continue;
      f.remaining--;
      if (f.remaining <= 0) this.active = this.active.filter((x) => x !== f);
      return s;
    }
    return undefined;
  }

  setRandom(r: RandomFaults): void {
    this.random = { rate429: r.rate429 ?? 0, rate5xx: r.rate5xx ?? 0 };
    this.rng = prng(r.seed ?? 1);
  }

  /** 429, a 5xx status, or undefined. */
  roll(): number | undefined {
    if (this.random.rate429 <= 0 && this.random.rate5xx <= 0) return undefined;
    const x = this.rng();
    if (x < this.random.rate429) return 429;
    if (x < this.random.rate429 + this.random.rate5xx) {
      const codes = [500, 502, 503, 504] as const;
      return codes[Math.floor(this.rng() * codes.length)] ?? 503;
    }
    return undefined;
  }
}

/** Decoded path + query for fault matching and logs. */
export function displayPath(url: URL): string {
  const raw = url.pathname + url.search;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
