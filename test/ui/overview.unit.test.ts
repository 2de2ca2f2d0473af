import { describe, expect, it } from "vitest";
import { toEntraSyncError } from "../../src/errors.js";
import { overviewPage, parseOverviewQuery } from "../../src/ui/overview.js";
import { tenantRow } from "../support/tenant-row.js";

const row = tenantRow;

const query = (s = "") => parseOverviewQuery(new URLSearchParams(s).entries());

describe("the status page's tenant list", () => {
  const rows = [
    row(1),
    row(2, { consecutiveFailures: 2 }),
    row(3, { consecutiveFailures: 5, quarantined: true }),
    row(4, { secret: { expiresOn: "2027-01-01T00:00:00Z", daysLeft: 30, source: "keyVault", mismatch: false } }),
    row(5, { secret: { expiresOn: "2027-06-01T00:00:00Z", daysLeft: 31, source: "keyVault", mismatch: false } }),
    row(6, { lastRun: { runId: "8000000000000-aaaaaaaa", status: "partial", trigger: "schedule", endedAt: "2026-11-30T10:00:00Z", planPending: { runId: "8000000000000-aaaaaaaa", planned: 9, written: 0, capExceeded: true } } }),
    row(7, {}, { scim: { on: true, lastUsedAt: null } }),
    row(8, { enabled: false }),
    row(9, { hold: { runId: "8000000000001-bbbbbbbb", state: "pending", expiresAt: "2026-12-04T10:00:00Z", removals: 600, changes: 600, tripped: ["removals"], action: "approve" } }),
    row(10, { hold: { runId: "8000000000002-cccccccc", state: "expired", expiresAt: "2026-11-01T10:00:00Z", removals: 600, changes: 600, tripped: ["removals"], action: "expired" } }),
  ];

  it("counts healthy, held, failing, quarantined and secrets expiring within 30 days over all tenants, whatever the filter", () => {
    const p = overviewPage(rows, query("filter=scim"));
    // A hold that expired unapproved waits for nobody: the tenant counts as healthy again.
    expect(p.counts).toEqual({ tenants: 10, healthy: 6, held: 1, failing: 1, quarantined: 1, secretsExpiring: 1 });
    expect(p.rows.map((r) => r.status.displayName)).toEqual(["School 007"]);
  });

  it("filters by health, expiring secret, pending plan; searches names and ids", () => {
    const names = (s: string) => overviewPage(rows, query(s)).rows.map((r) => r.status.displayName);
    expect(names("filter=failing")).toEqual(["School 002"]);
    expect(names("filter=quarantined")).toEqual(["School 003"]);
    expect(names("filter=expiring")).toEqual(["School 004"]);
    expect(names("filter=planPending")).toEqual(["School 006"]);
    expect(names("filter=held")).toEqual(["School 009"]);
    expect(names("q=school 00")).toHaveLength(9);
    expect(names("q=000000000005")).toEqual(["School 005"]);
  });

  it("sorts: worst health first by default; by any column either way", () => {
    const names = (s: string) => overviewPage(rows, query(s)).rows.map((r) => r.status.displayName);
    expect(names("").slice(0, 4)).toEqual(["School 003", "School 002", "School 009", "School 008"]);
    expect(names("sort=name&dir=desc")[0]).toBe("School 010");
    expect(names("sort=secret")[0]).toBe("School 004");
    expect(names("sort=failures&dir=desc")[0]).toBe("School 003");
  });

  it("pages on the server: the page size, the page asked for, and the last page when asked past it", () => {
    const many = Array.from({ length: 60 }, (_, i) => row(i + 1));
    const second = overviewPage(many, query("sort=name&size=25&page=2"));
    expect(second.pages).toBe(3);
    expect(second.rows).toHaveLength(25);
    expect(second.rows[0]!.status.displayName).toBe("School 026");
    const past = overviewPage(many, query("sort=name&size=25&page=9"));
    expect(past.query.page).toBe(3);
    expect(past.rows).toHaveLength(10);
  });

  it("refuses a bad parameter naming it and what it takes", () => {
    const err = (s: string) => {
      try {
        query(s);
      } catch (e) {
        return toEntraSyncError(e);
      }
      throw new Error("expected a refusal");
    };
    expect(err("sort=bogus")).toMatchObject({ code: "INPUT_INVALID", field: "sort" });
    expect(err("sort=bogus").message).toContain("name, health, lastRun");
    expect(err("size=7")).toMatchObject({ code: "INPUT_INVALID", field: "size" });
    expect(err("page=0")).toMatchObject({ code: "INPUT_INVALID", field: "page" });
    expect(err("colour=red")).toMatchObject({ code: "INPUT_INVALID", field: "colour" });
  });
});
