/**
 * The one place for ImmutableId values: how a platform attribute becomes an `onPremisesImmutableId`, and which
 * values Entra (and Entra Connect's rules) would refuse. Refusing here means nothing refused is ever sent.
 */
import type { ImmutableIdConfig } from "../tenants/model.js";

export type ImmutableIdEncoding = ImmutableIdConfig["encoding"];

/** Entra Connect's limit: a sourceAnchor is under 60 characters. */
export const MAX_IMMUTABLE_ID_LENGTH = 59;

export type EncodeResult = { ok: true; value: string } | { ok: false; reason: "emptySource" | "valueNotAllowed"; why: string };

const GUID = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/**
 * The 16 bytes of a GUID in Microsoft's byte order (.NET `Guid.ToByteArray()`): Data1 (4 bytes), Data2 and Data3
 * (2 bytes each) little-endian, the last 8 bytes as written. Undefined when `text` is not a GUID.
 */
export function guidToBytes(text: string): Uint8Array | undefined {
  const m = GUID.exec(text.trim());
  if (!m) return undefined;
  const hex = (s: string) => Buffer.from(s, "hex");
  const d1 = hex(m[1]!).reverse();
  const d2 = hex(m[2]!).reverse();
  const d3 = hex(m[3]!).reverse();
  return Uint8Array.from([...d1, ...d2, ...d3, ...hex(m[4]!), ...hex(m[5]!)]);
}

/** The ImmutableId Entra Connect derives from an objectGUID: base64 of its bytes in Microsoft order (24 characters). */
export function guidToImmutableId(text: string): string | undefined {
  const b = guidToBytes(text);
  return b ? Buffer.from(b).toString("base64") : undefined;
}

/** Why Entra would refuse `value` as an ImmutableId, or undefined when it is acceptable. */
export function refusalOf(value: string): string | undefined {
  if (value.length === 0) return "empty";
  if (value.includes("$") || value.includes("_")) return "contains $ or _";
  if (value.length > MAX_IMMUTABLE_ID_LENGTH) return `${value.length} characters (Entra Connect's limit is under 60)`;
  // Printable ASCII without spaces: what a SAML NameID and Entra's sourceAnchor rules both take safely.
  if (!/^[\x21-\x7e]+$/.test(value)) return "contains spaces, control or non-ASCII characters (use base64)";
  return undefined;
}

/** Encodes a platform attribute's value into an ImmutableId, or says why it cannot be one. */
export function encodeImmutableId(source: string | null | undefined, encoding: ImmutableIdEncoding): EncodeResult {
  const raw = (source ?? "").trim();
  if (!raw) return { ok: false, reason: "emptySource", why: "the source attribute is empty" };
  let value: string;
  switch (encoding) {
    case "raw":
      value = raw;
      break;
    case "base64":
      value = Buffer.from(raw, "utf8").toString("base64");
      break;
    case "guid": {
      const v = guidToImmutableId(raw);
      if (!v) return { ok: false, reason: "valueNotAllowed", why: "the source value is not a GUID (encoding guid)" };
      value = v;
      break;
    }
  }
  const refusal = refusalOf(value);
  return refusal ? { ok: false, reason: "valueNotAllowed", why: refusal } : { ok: true, value };
}
