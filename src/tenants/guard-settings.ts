/**
 * The mass-change guard's per-tenant settings: when an update sync would mark more than `removals` platform users
 * removed, or change more than `changesPercent` % of the tenant's linked users (and more than `changesFloor`),
 * nothing is applied and the run is held for an operator. Around each term start (`termStarts`, days of the year) the
 * lower `termRemovals` and `termChangesPercent` apply. What a date's thresholds are: src/sync/guard.ts.
 */
import { z } from "zod";
import { EntraSyncError } from "../errors.js";

const DAY = /^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export const guardSchema = z
  .object({
    enabled: z.boolean(),
    removals: z.number().int().min(0).max(10_000_000),
    changesPercent: z.number().min(0).max(100),
    changesFloor: z.number().int().min(0).max(10_000_000),
    termStarts: z.array(z.string().regex(DAY, "a term starts on a day MM-DD")).max(12),
    termRemovals: z.number().int().min(0).max(10_000_000),
    termChangesPercent: z.number().min(0).max(100),
  })
  .strict();

export type GuardConfig = z.infer<typeof guardSchema>;

/**
 * 500 removals: the deletion threshold directory-sync tools ship with. 10 % of the linked users, but never fewer than
 * 50 changes: a school of 20 is not held for 3 changes, and below 500 users the floor decides. Term starts: the
 * Swedish school year's autumn (mid-August) and spring (early January) terms, with a fifth of the removals and half
 * the percentage inside their windows, so a year's rollover is reviewed before it lands.
 */
export const DEFAULT_GUARD: GuardConfig = {
  enabled: true,
  removals: 500,
  changesPercent: 10,
  changesFloor: 50,
  termStarts: ["08-15", "01-08"],
  termRemovals: 100,
  termChangesPercent: 5,
};

/** Parses `--term-starts MM-DD,MM-DD` (or `none`). */
export function parseTermStarts(v: string[]): string[] {
  if (v.length === 1 && v[0] === "none") return [];
  for (const d of v) if (!DAY.test(d)) throw new EntraSyncError("INPUT_INVALID", `--term-starts takes days MM-DD, comma-separated (e.g. 08-15,01-08 for the Swedish school year), or none; got "${d}".`, { field: "term-starts" });
  return v;
}

/** Parses a percentage option (`10` or `10%`). */
export function parsePercent(v: string, field: string): number {
  const m = /^(\d{1,3}(?:\.\d+)?)%?$/.exec(v.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 0 && n <= 100)) throw new EntraSyncError("INPUT_INVALID", `--${field} takes a percentage from 0 to 100 (e.g. 10 or 10%), got "${v}".`, { field });
  return n;
}

/** Parses a count option (a whole number ≥ 0). */
export function parseCount(v: string, field: string): number {
  if (!/^\d{1,8}$/.test(v.trim())) throw new EntraSyncError("INPUT_INVALID", `--${field} takes a whole number of users (0 or more), got "${v}".`, { field });
  return Number(v);
}
