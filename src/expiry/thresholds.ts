/**
 * Threshold arithmetic. Everything works on instants (epoch milliseconds), never on local calendar fields, so the
 * outcome does not depend on the time zone of the machine that runs the check.
 */

export const DAY_MS = 86_400_000;

/**
 * Whole days left until `expiresOn`: 0 on the last day (less than 24 h left), negative once expired. A secret that
 * expires at 23:59:59 UTC is "7 days left" from 23:59:59 UTC eight days before until 23:59:58 UTC seven days before.
 */
export function daysLeft(expiresOn: Date, now: Date): number {
  return Math.floor((expiresOn.getTime() - now.getTime()) / DAY_MS);
}

/**
 * The most urgent threshold crossed at `days` left: the smallest threshold `t` with `days <= t`, or undefined when
 * none is crossed yet. Crossing several at once (a secret registered 10 days before it expires) gives one answer,
 * so one mail goes out, not one per threshold.
 */
export function dueThreshold(thresholds: readonly number[], days: number): number | undefined {
  let best: number | undefined;
  for (const t of thresholds) if (days <= t && (best === undefined || t < best)) best = t;
  return best;
}

/** The next threshold still ahead (the largest `t < days`), for previews; undefined when none is left. */
export function nextThreshold(thresholds: readonly number[], days: number): number | undefined {
  let best: number | undefined;
  for (const t of thresholds) if (t < days && (best === undefined || t > best)) best = t;
  return best;
}

/** The UTC calendar day of an instant (YYYY-MM-DD), the unit of "at most once a day". */
export const utcDay = (d: Date): string => d.toISOString().slice(0, 10);
