/** Small helpers shared by the simulator's parts. */
import { randomBytes, randomUUID } from "node:crypto";

export function guid(): string {
  return randomUUID();
}

export function b64url(input: string | Buffer): string {
  return Buffer.from(input).toString("base64url");
}

export function encodeToken(payload: unknown): string {
  return b64url(JSON.stringify(payload));
}

export function decodeToken<T>(token: string): T | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    return parsed !== null && typeof parsed === "object" ? (parsed as T) : undefined;
  } catch {
    return undefined;
  }
}

const SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";

/** A client secret value shaped like Entra's: 40 characters of [A-Za-z0-9~._-]. */
export function entraSecretValue(): string {
  const bytes = randomBytes(40);
  let out = "";
  for (const b of bytes) out += SECRET_ALPHABET[b % SECRET_ALPHABET.length];
  return out;
}

/** Deterministic PRNG (mulberry32) so fault/duplicate knobs can be replayed with a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Entra's timestamp style: "2024-05-01 10:11:12Z". */
export function entraTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "Z");
}

/** Graph's innerError date style: "2024-05-01T10:11:12". */
export function graphDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
  });
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}
