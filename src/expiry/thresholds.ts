/**
 * Threshold arithmetic. Everything works on instants (epoch milliseconds), never on local calendar fields, so the
 * outcome does not depend on the time zone of the machine that runs the check.
 */

export const DAY_MS = 86_400_000;

/**
 * Days left until `expiresOn`, counted in UTC calendar days as people count them: 0 on the day it expires, 7 a week
 * before whatever the hour, negative on the days after. (Key Vault keeps dates to the second, so counting in
 * 24-hour spans would say "9 days" for a secret stored this very moment to expire in 10.)
 */
export function daysLeft(expiresOn: Date, now: Date): number {
  return Math.floor(expiresOn.getTime() / DAY_MS) - Math.floor(now.getTime() / DAY_MS);
}

/** Whether the secret has expired at `now` (on its last day it may have already). */
export const isExpired = (expiresOn: Date, now: Date): boolean => expiresOn.getTime() <= now.getTime();

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
