/**
 * State derived from connector-space rows for Immutable ID sync, kept in the row's own partition so that a row and
 * everything derived from it are written in one entity-group transaction (atomic within a partition): a process
 * killed at any moment never leaves an index entry without its row's value, nor a value without its entry.
 *
 * Index RowKeys start with "!" (an Entra object id never does); a row's entity lists the keys it owns (`idx`), so a
 * write knows which entries to delete without reading them first.
 */
import { createHash } from "node:crypto";
import { encodeKey } from "../state/tables-client.js";

/** What Immutable ID sync last concluded about one Entra user (stored on its row). */
export interface CandidateState {
  /** `planned`, a skip reason (`alreadySet`, `duplicateValue` …) or `removed` (not a live user: not counted). */
  cat: string;
  /** The ImmutableId the user would get (planned and duplicateValue only). */
  value?: string | undefined;
  upn?: string | undefined;
  platformUserId?: string | undefined;
  action?: "write" | "switchUpn" | undefined;
  /** The ImmutableId the user held, and the one an unfinished move held for it, when this was concluded. */
  held?: string | undefined;
  move?: string | undefined;
}

/**
 * The value entries a user had when its state was last concluded (the row's own entries may be newer: update sync
 * writes them with the row). A plan compares again the users sharing a value that changed between the two.
 */
export function concludedValueKeys(id: string, iid: CandidateState | undefined): string[] {
  if (!iid) return [];
  const keys: string[] = [];
  if (iid.held) keys.push(`${valuePrefix(iid.held)}h|${id}`);
  if (iid.move) keys.push(`${valuePrefix(iid.move)}m|${id}`);
  if (wantsValue(iid.cat) && iid.value) keys.push(`${valuePrefix(iid.value)}w|${id}`);
  return keys;
}

/** The index keys and summary contribution a row had when it was last read or written (shared by copies of the row). */
export interface StoredDerived {
  keys: string[];
}

export const INDEX_FIRST = "!";
/** The first RowKey after every index key: rows of users are at or after it. */
export const ROWS_FIRST = '"';
export const SUMMARY_KEY = "!s";

/** Values are compared case-insensitively (to be safe; Entra compares exactly); long ones by their digest. */
export function valueKey(value: string): string {
  const enc = encodeKey(value.toLowerCase());
  return enc.length <= 300 ? enc : `~${createHash("sha256").update(value.toLowerCase()).digest("hex")}`;
}

/** Prefix of every entry of one value: `!v|<value>|<kind>|<id>`, kind h (held), m (held by an unfinished move), w (wanted). */
export const valuePrefix = (value: string) => `!v|${valueKey(value)}|`;
export const DIRTY_PREFIX = "!d|";
export const PENDING_PREFIX = "!u|";
export const PLANNED_PREFIX = "!p|";
/** `!r|<removedAt>|<id>`: a row of a user Entra removed, by when, so that old ones are found without a scan. */
export const REMOVED_PREFIX = "!r|";

/** Kinds of value entries. */
export type ValueKind = "h" | "m" | "w";

/** True for categories whose value competes for uniqueness (written to the value index as wanted). */
export const wantsValue = (cat: string | undefined): boolean => cat === "planned" || cat === "duplicateValue";

/** The index keys a row needs, from its fields alone. */
export function keysOfRow(r: {
  id: string;
  user: { onPremisesImmutableId?: string | null | undefined };
  removed?: string | undefined;
  removedAt?: string | undefined;
  upnSwitch?: { value?: string | undefined } | undefined;
  iid?: CandidateState | undefined;
  iidDirty?: boolean | undefined;
}): string[] {
  const keys: string[] = [];
  if (r.removed && r.removedAt) keys.push(`${REMOVED_PREFIX}${r.removedAt}|${r.id}`);
  const held = r.user.onPremisesImmutableId;
  if (held) keys.push(`${valuePrefix(held)}h|${r.id}`);
  if (r.upnSwitch && !r.removed) {
    keys.push(`${PENDING_PREFIX}${r.id}`);
    if (r.upnSwitch.value) keys.push(`${valuePrefix(r.upnSwitch.value)}m|${r.id}`);
  }
  if (r.iid && wantsValue(r.iid.cat) && r.iid.value) keys.push(`${valuePrefix(r.iid.value)}w|${r.id}`);
  if (r.iid?.cat === "planned") keys.push(`${PLANNED_PREFIX}${r.id}`);
  if (r.iidDirty) keys.push(`${DIRTY_PREFIX}${r.id}`);
  return [...new Set(keys)];
}

/** Parses a value entry's RowKey. */
export function parseValueKey(rowKey: string): { value: string; kind: ValueKind; id: string } | undefined {
  const m = /^!v\|([^|]*)\|([hmw])\|(.+)$/s.exec(rowKey);
  return m ? { value: m[1]!, kind: m[2] as ValueKind, id: m[3]! } : undefined;
}

/** The value part of the value entries among `keys`. */
export const valueKeysOf = (keys: readonly string[]): Set<string> => new Set(keys.map((k) => parseValueKey(k)?.value).filter((v): v is string => v !== undefined));

/** A plan entry's digest as a number: a plan's hash is the sum of its entries' (mod 2^128), so it can be kept incrementally. */
export function entryDigest(e: { entraId: string; userPrincipalName: string; value: string; platformUserId: string; action: string }): bigint {
  const h = createHash("sha256").update(`${e.entraId}\t${e.userPrincipalName}\t${e.value}\t${e.platformUserId}\t${e.action}\n`).digest("hex");
  return BigInt(`0x${h.slice(0, 32)}`);
}
export const HASH_MOD = 1n << 128n;
export const hashHex = (n: bigint): string => (((n % HASH_MOD) + HASH_MOD) % HASH_MOD).toString(16).padStart(32, "0");

/** One shard's summary of its rows' candidate states (row `!s` of the partition). */
export interface ShardSummary {
  counts: Record<string, number>;
  /** Sum of the digests of the planned entries, hex. */
  hashSum: string;
  /** The tenant's Immutable ID settings (and domains) the states were computed with; empty: invalid (re-plan in full). */
  settingsHash: string;
  /** When the last full re-plan finished (ISO). */
  builtAt: string;
}
