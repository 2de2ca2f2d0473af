import { describe, expect, it } from "vitest";
import { EntraSyncError } from "../../src/errors.js";
import type { DeltaEntry } from "../../src/graph/users.js";
import type { PlatformUpdate } from "../../src/directory/directory.js";
import { evaluateGuard, guardThresholdsAt, termStartAt, tripped, type GuardablePage, type GuardReader, type UpdateGuard } from "../../src/sync/guard.js";
import { DEFAULT_GUARD } from "../../src/tenants/guard-settings.js";

const at = (iso: string) => new Date(`${iso}T12:00:00Z`);

describe("guardThresholdsAt: the thresholds for a date", () => {
  it("uses the normal thresholds outside a term-start window and the lower ones inside (14 days either side, UTC days)", () => {
    expect(guardThresholdsAt(undefined, at("2026-03-15"))).toEqual({ removals: 500, changesPercent: 10, changesFloor: 50, termStart: false });
    for (const d of ["2026-08-01", "2026-08-15", "2026-08-29", "2027-01-22", "2026-12-25"]) expect(guardThresholdsAt(DEFAULT_GUARD, at(d)), d).toEqual({ removals: 100, changesPercent: 5, changesFloor: 50, termStart: true });
    for (const d of ["2026-07-31", "2026-08-30", "2027-01-23", "2026-12-24"]) expect(guardThresholdsAt(DEFAULT_GUARD, at(d))?.termStart, d).toBe(false);
  });

  it("follows the tenant's settings: its own term starts, none, or the guard off", () => {
    const cfg = { ...DEFAULT_GUARD, termStarts: ["03-01"], removals: 40, termRemovals: 60 };
    expect(termStartAt(cfg.termStarts, at("2026-02-20"))).toBe("03-01");
    // a term threshold never loosens the normal one
    expect(guardThresholdsAt(cfg, at("2026-02-20"))).toMatchObject({ removals: 40, termStart: true });
    expect(guardThresholdsAt({ ...DEFAULT_GUARD, termStarts: [] }, at("2026-08-15"))?.termStart).toBe(false);
    expect(guardThresholdsAt({ ...DEFAULT_GUARD, enabled: false }, at("2026-08-15"))).toBeUndefined();
  });
});

describe("tripped", () => {
  const t = { removals: 500, changesPercent: 10, changesFloor: 50 };
  it("holds more removals than the threshold, and changes over both the percentage and the floor", () => {
    expect(tripped(t, { removals: 501, changes: 501, users: null })).toEqual(["removals"]);
    expect(tripped(t, { removals: 500, changes: 201, users: 2000 })).toEqual(["changes"]);
    expect(tripped(t, { removals: 0, changes: 200, users: 2000 })).toEqual([]);
    // a 20-user school is not held for 3 changes, nor for all 20: the floor decides below 500 users
    expect(tripped(t, { removals: 0, changes: 3, users: 20 })).toEqual([]);
    expect(tripped(t, { removals: 0, changes: 20, users: 20 })).toEqual([]);
    expect(tripped(t, { removals: 0, changes: 51, users: 300 })).toEqual(["changes"]);
  });
});

// ---- evaluateGuard with an in-memory delta and a preparation of our own ----

type Page = GuardablePage & { entries: number };
const user = (id: string, externalId: string) => ({ id, tenantId: "t", externalId, etag: "e" }) as PlatformUpdate["user"];
const upd = (pid: string, remove = false): PlatformUpdate => ({ user: user(pid, `e-${pid}`), changes: remove ? { entraRemovedAt: "2026-01-01T00:00:00Z", entraRemovedReason: "deleted" } : { city: "Lund", ssn: "19121212-1212" } });

/** A delta of pages, each entry an update of platform user `p<n>`; counts the reads. */
function delta(pages: Array<Array<{ p: string; remove?: boolean }>>, o: { expiredAt?: string } = {}) {
  const reads: Array<string | undefined> = [];
  const link = (i: number) => `https://graph/delta?page=${i}`;
  const reader: GuardReader<Page> & { reads: typeof reads } = {
    reads,
    async fetch(l) {
      reads.push(l);
      if (o.expiredAt !== undefined && l === o.expiredAt) throw new EntraSyncError("GRAPH_DELTA_EXPIRED", "expired");
      const m = l === undefined ? null : /page=(\d+)/.exec(l);
      const i = m ? Number(m[1]) : 0; // any other link starts the delta
      const entries = pages[i]!.map((x) => ({ id: `e-${x.p}`, ...(x.remove ? { "@removed": { reason: "deleted" } } : {}) }) as DeltaEntry);
      return i + 1 < pages.length ? { entries, nextLink: link(i + 1) } : { entries, deltaLink: "https://graph/delta?token=next" };
    },
    async prepare(entries) {
      const updates = entries.map((e) => upd(e.id.slice(2), !!e["@removed"]));
      return { updates, entries: entries.length, entraIds: new Set(entries.map((e) => e.id)), platformIds: new Set(updates.map((u) => u.user.id)) };
    },
    restartInitial: () => undefined,
  };
  return reader;
}

const guard = (o: Partial<UpdateGuard> = {}): UpdateGuard => ({
  thresholds: { removals: 2, changesPercent: 10, changesFloor: 3, termStart: false },
  linkedUsers: async () => 10,
  sensitive: new Set(["ssn"]),
  expiresAt: () => "2030-01-01T00:00:00.000Z",
  ...o,
});

describe("evaluateGuard", () => {
  it("holds a delta over a threshold, counting distinct platform users, with a masked preview", async () => {
    const r = delta([[{ p: "1", remove: true }, { p: "2", remove: true }], [{ p: "3", remove: true }, { p: "1", remove: true }]]);
    const v = await evaluateGuard(guard(), "https://graph/delta?token=t0", false, r);
    expect(v.held).toMatchObject({ removals: 3, changes: 3, users: null, tripped: ["removals"], state: "pending", expiresAt: "2030-01-01T00:00:00.000Z" });
    expect(v.held!.from).toMatch(/^[0-9a-f]{16}$/);
    expect(v.held!.preview.map((p) => [p.platformUserId, p.kind])).toEqual([["1", "remove"], ["2", "remove"], ["3", "remove"]]);

    const c = await evaluateGuard(guard(), undefined, false, delta([[{ p: "1" }, { p: "2" }, { p: "3" }, { p: "4" }]]));
    expect(c.held).toMatchObject({ changes: 4, users: 10, tripped: ["changes"] });
    expect(c.held!.from).toBe("initial");
    expect(c.held!.preview[0]!.changes).toEqual([{ attribute: "city", old: null, new: "Lund" }, { attribute: "ssn", old: null, new: "[masked]" }]);
    expect(JSON.stringify(c.held)).not.toContain("19121212");
  });

  it("lets a delta under the thresholds through with its pages kept: the write path reads nothing again", async () => {
    const r = delta([[{ p: "1" }], [{ p: "2" }]]);
    const v = await evaluateGuard(guard(), "https://graph/delta?token=t0", false, r);
    expect(v.held).toBeUndefined();
    expect(r.reads).toHaveLength(2);
    const p0 = await v.kept!.take("https://graph/delta?token=t0");
    expect(p0?.entries).toHaveLength(1);
    expect(v.kept!.preparedFor(p0!)?.platformIds).toEqual(new Set(["1"]));
    const p1 = await v.kept!.take(p0!.nextLink);
    expect(v.kept!.preparedFor(p1!)).toBeDefined();
    expect(v.kept!.take("https://graph/delta?token=t0")).toBeUndefined(); // served once
  });

  it("prepares a kept page again when an earlier page touched the same users", async () => {
    const v = await evaluateGuard(guard(), "l0", false, delta([[{ p: "1" }], [{ p: "1" }]]));
    const first = (await v.kept!.take("l0"))!;
    expect(v.kept!.preparedFor(first)).toBeDefined();
    const second = (await v.kept!.take(first.nextLink))!;
    expect(v.kept!.preparedFor(second)).toBeUndefined();
  });

  it("keeps pages only up to its bound; beyond, the write path reads them again", async () => {
    const r = delta([[{ p: "1" }], [{ p: "2" }], [{ p: "3" }]]);
    const v = await evaluateGuard(guard({ keepEntries: 1, thresholds: { removals: 5, changesPercent: 50, changesFloor: 5, termStart: false } }), "l0", false, r);
    expect(v.held).toBeUndefined();
    expect(v.kept!.size).toBe(1);
    expect(v.kept!.take("https://graph/delta?page=1")).toBeUndefined();
  });

  it("starts counting again on a new initial round when the delta token has expired, and keeps the failure for the write path", async () => {
    const r = delta([[{ p: "1" }], [{ p: "2" }]], { expiredAt: "old" });
    let restarted = 0;
    r.restartInitial = () => void restarted++;
    const v = await evaluateGuard(guard(), "old", false, r);
    expect(restarted).toBe(1);
    expect(r.reads).toEqual(["old", undefined, "https://graph/delta?page=1"]);
    await expect(v.kept!.take("old")).rejects.toMatchObject({ code: "GRAPH_DELTA_EXPIRED" });
    expect(await v.kept!.take(undefined)).toBeDefined();
  });

  it("counts the users a full round no longer returns as removals", async () => {
    const r = delta([[{ p: "1" }]]);
    r.unseen = async function* (seen) {
      for (const p of ["7", "8", "9"]) if (!seen.has(`e-${p}`)) yield p;
    };
    const v = await evaluateGuard(guard(), undefined, true, r);
    expect(v.held).toMatchObject({ removals: 3, changes: 4, tripped: ["removals", "changes"] });
  });

  it("an approved hold passes the same counts from the same checkpoint, and holds again when more would change", async () => {
    const r = () => delta([[{ p: "1", remove: true }, { p: "2", remove: true }, { p: "3", remove: true }]]);
    const held = (await evaluateGuard(guard(), "l0", false, r())).held!;
    const approved = { runId: "r1", from: held.from, removals: 3, changes: 3 };
    const ok = await evaluateGuard(guard({ approved }), "l0", false, r());
    expect(ok.held).toBeUndefined();
    expect(ok.notice).toMatch(/Applies run r1/);
    const more = await evaluateGuard(guard({ approved: { ...approved, removals: 2, changes: 2 } }), "l0", false, r());
    expect(more.held?.tripped).toContain("removals");
    expect(more.notice).toMatch(/held again/);
    const moved = await evaluateGuard(guard({ approved }), "elsewhere", false, r());
    expect(moved.held).toBeDefined();
    expect(moved.notice).toMatch(/decided afresh/);
  });
});
