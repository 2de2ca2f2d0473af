import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * A subscription's `clientState`: 32 random bytes as base64url (43 characters; Graph allows up to 128). Graph sends
 * it back with every notification; it is the shared secret that tells Graph's notifications from anyone else's POST.
 */
export const newClientState = (): string => randomBytes(32).toString("base64url");

/** What is stored of a clientState: its SHA-256 (hex). The value itself is never stored or logged. */
export const hashClientState = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex");

/** Whether a received clientState is the one whose hash is stored; compares the hashes in constant time. */
export function clientStateMatches(received: unknown, storedHash: string): boolean {
  if (typeof received !== "string" || received.length === 0 || received.length > 128 || storedHash.length !== 64) return false;
  const a = Buffer.from(hashClientState(received), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
