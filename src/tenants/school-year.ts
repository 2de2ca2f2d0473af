/**
 * School-year awareness: per-tenant pause windows (e.g. the summer break) in which runs write nothing. A window is
 * two days of the year, `MM-DD`, both included, counted in UTC; it may wrap the year end (`12-20..01-06`).
 */
import { z } from "zod";
import { EntraSyncError } from "../errors.js";

const DAY = /^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export const pauseSchema = z.object({ from: z.string().regex(DAY, "a pause starts on a day MM-DD"), to: z.string().regex(DAY, "a pause ends on a day MM-DD") }).strict();

export const schoolYearSchema = z
  .object({
    /** Windows in which runs write nothing. */
    pauses: z.array(pauseSchema).max(12),
    /** In a pause: read and report what would change (a dry run), or skip the run. */
    readsDuringPause: z.boolean(),
  })
  .strict();

export type SchoolYearConfig = z.infer<typeof schoolYearSchema>;
export const DEFAULT_SCHOOL_YEAR: SchoolYearConfig = { pauses: [], readsDuringPause: true };

/** Parses `--pause MM-DD..MM-DD` (or `none`). */
export function parsePause(v: string): SchoolYearConfig["pauses"][number] | null {
  if (v === "none") return null;
  const m = /^(\d\d-\d\d)\.\.(\d\d-\d\d)$/.exec(v.trim());
  if (!m || !DAY.test(m[1]!) || !DAY.test(m[2]!)) throw new EntraSyncError("INPUT_INVALID", `--pause takes MM-DD..MM-DD (e.g. 06-15..08-10 for the summer break) or none, got "${v}".`, { field: "pause" });
  return { from: m[1]!, to: m[2]! };
}

/** The pause window `now` falls in, if any. */
export function pauseAt(cfg: SchoolYearConfig | undefined, now: Date): SchoolYearConfig["pauses"][number] | undefined {
  const day = now.toISOString().slice(5, 10);
  return (cfg ?? DEFAULT_SCHOOL_YEAR).pauses.find((p) => (p.from <= p.to ? day >= p.from && day <= p.to : day >= p.from || day <= p.to));
}
