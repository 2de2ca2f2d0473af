import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { DAY_MS, daysLeft, dueThreshold, isExpired, nextThreshold, utcDay } from "../../src/expiry/thresholds.js";
import { formatDate, renderAlert } from "../../src/mail/templates.js";

const T = [60, 30, 14, 7, 3, 1, 0];
const expires = new Date("2026-06-30T23:59:59Z");
const at = (iso: string) => new Date(iso);

describe("threshold arithmetic", () => {
  it("counts whole days left on instants: 0 on the last day, negative once expired", () => {
    expect(daysLeft(expires, at("2026-06-23T23:59:59Z"))).toBe(7);
    expect(daysLeft(expires, at("2026-06-24T00:00:00Z"))).toBe(6);
    expect(daysLeft(expires, at("2026-06-29T23:59:59Z"))).toBe(1);
    expect(daysLeft(expires, at("2026-06-30T00:00:00Z"))).toBe(0);
    expect(daysLeft(expires, at("2026-06-30T23:59:58Z"))).toBe(0);
    expect(daysLeft(expires, at("2026-06-30T23:59:59Z"))).toBe(0);
    expect(daysLeft(expires, at("2026-07-01T00:00:00Z"))).toBe(-1);
    expect(daysLeft(expires, at("2027-01-01T00:00:00Z"))).toBeLessThan(-100);
    // Calendar days: the hour of the expiry does not matter, nor does Key Vault's rounding to the second.
    expect(daysLeft(at("2026-06-30T00:30:00Z"), at("2026-06-23T06:00:00Z"))).toBe(7);
    expect(daysLeft(at("2026-07-03T10:00:00.000Z"), at("2026-06-23T10:00:00.537Z"))).toBe(10);
    expect(isExpired(at("2026-06-30T00:30:00Z"), at("2026-06-30T06:00:00Z"))).toBe(true);
    expect(daysLeft(at("2026-06-30T00:30:00Z"), at("2026-06-30T06:00:00Z"))).toBe(0);
  });

  it("picks only the most urgent crossed threshold, at the boundaries", () => {
    expect(dueThreshold(T, 61)).toBeUndefined();
    expect(dueThreshold(T, 60)).toBe(60);
    expect(dueThreshold(T, 31)).toBe(60);
    expect(dueThreshold(T, 30)).toBe(30);
    expect(dueThreshold(T, 15)).toBe(30);
    expect(dueThreshold(T, 14)).toBe(14);
    expect(dueThreshold(T, 10)).toBe(14); // registered 10 days before: one mail (14), not three (60, 30, 14)
    expect(dueThreshold(T, 7)).toBe(7);
    expect(dueThreshold(T, 2)).toBe(3);
    expect(dueThreshold(T, 1)).toBe(1);
    expect(dueThreshold(T, 0)).toBe(0);
    expect(dueThreshold(T, -5)).toBe(0); // already expired
    expect(dueThreshold([], 0)).toBeUndefined();
    expect(nextThreshold(T, 10)).toBe(7);
    expect(nextThreshold(T, 0)).toBeUndefined();
    expect(nextThreshold(T, 100)).toBe(60);
  });

  it("never skips a threshold when checked daily, and never mails one twice (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 23 * 3600 }), (startDaysLeft, secondOfDay) => {
        const exp = Date.UTC(2030, 0, 1);
        const mailed: number[] = [];
        let last: number | undefined;
        for (let d = startDaysLeft; d >= -3; d--) {
          const now = new Date(exp - d * DAY_MS - secondOfDay * 1000);
          const due = dueThreshold(T, daysLeft(new Date(exp), now));
          if (due !== undefined && due !== last) mailed.push(due);
          last = due;
        }
        // Each threshold at most once, in falling order; every threshold below the starting point is mailed.
        expect(new Set(mailed).size).toBe(mailed.length);
        expect([...mailed].sort((a, b) => b - a)).toEqual(mailed);
        for (const t of T) if (t < startDaysLeft) expect(mailed).toContain(t);
      }),
    );
  });
});

describe("time zones", () => {
  const original = process.env.TZ;
  afterEach(() => {
    if (original === undefined) delete process.env.TZ;
    else process.env.TZ = original;
  });

  it("gives the same days, thresholds, dates and mail whatever the machine's time zone", () => {
    const now = at("2026-06-23T22:30:00Z"); // already the 24th in Stockholm and Tokyo, still the 23rd in Los Angeles
    const out: string[] = [];
    const localDay: Record<string, number> = { UTC: 23, "Europe/Stockholm": 24, "America/Los_Angeles": 23, "Asia/Tokyo": 24, "Pacific/Kiritimati": 24 };
    for (const tz of ["UTC", "Europe/Stockholm", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati"]) {
      process.env.TZ = tz;
      // The zone really changed: the local calendar day of `now` differs between them.
      expect(now.getDate()).toBe(localDay[tz]);
      const d = daysLeft(expires, now);
      const mail = renderAlert({ kind: "threshold", locale: "sv", schoolName: "Skola", tenantId: "t", clientId: "c", expiresOn: expires, daysLeft: d });
      out.push(JSON.stringify([d, dueThreshold(T, d), utcDay(now), formatDate(expires, "en"), formatDate(expires, "sv"), mail.subject, mail.text]));
    }
    expect(new Set(out).size).toBe(1);
    const [d, due, , en, sv] = JSON.parse(out[0]!) as [number, number, string, string, string];
    expect(d).toBe(7);
    expect(due).toBe(7);
    expect(en).toMatch(/30 June 2026.*23:59 UTC/);
    expect(sv).toMatch(/1 juli 2026.*01:59 svensk tid$/); // summer time: UTC+2
  });
});
