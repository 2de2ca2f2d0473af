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
  /**
   * Echo part of the request in the error body, as misbehaving services and proxies do: the form body's
   * `client_secret`, the JSON body's `value` (Key Vault's set secret) or the `Authorization` header.
   */
  echo?: "client_secret" | "value" | "authorization";
  /** How the echoed text is written (default plain). */
  echoAs?: EchoForm;
}

export type EchoForm = "plain" | "form" | "base64" | "base64url" | "base64mime" | "json" | "split";

/** The text an echo fault puts in its error body ("" when the request carries nothing to echo). */
export function echoText(spec: FaultSpec, req: { headers: Record<string, string>; bodyText: string }): string {
  if (!spec.echo) return "";
  const field = spec.echo;
  let value: string | undefined;
  if (spec.echo === "client_secret") value = new URLSearchParams(req.bodyText).get("client_secret") ?? undefined;
  else if (spec.echo === "authorization") value = req.headers["authorization"];
  else {
    try {
      value = (JSON.parse(req.bodyText) as { value?: string }).value;
    } catch {
      value = undefined;
    }
  }
  if (value === undefined) return "";
  const pair = spec.echo === "authorization" ? `Authorization: ${value}` : `${field}=${value}`;
  switch (spec.echoAs ?? "plain") {
    case "plain":
      return pair;
    case "form":
      return new URLSearchParams({ [field]: value }).toString();
    case "base64":
      return Buffer.from(spec.echo === "client_secret" ? req.bodyText : pair).toString("base64");
    case "base64url":
      return Buffer.from(value).toString("base64url");
    case "base64mime":
      return Buffer.from(`${req.bodyText}\r\n${pair}`).toString("base64").replace(/.{76}/g, "$&\r\n");
    case "json":
      // every character but letters and digits as a \uXXXX escape (what strict JSON encoders emit for safety)
      return JSON.stringify({ [field]: value }).replace(/[^A-Za-z0-9{}":,]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    case "split":
      return `${field} ${value.slice(0, Math.ceil(value.length / 2))}\r\n    ${value.slice(Math.ceil(value.length / 2))}`;
  }
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
