import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { normalizeLookup, type ApplyResult, type LookupAttribute, type PlatformDirectory, type StoredPlatformUser } from "../../src/directory/directory.js";
import { lookupHash, RecordFile, snapshotLookup } from "../../src/directory/snapshot.js";
import type { PlatformUser } from "../../src/directory/types.js";

/** An in-memory platform directory (our own interface) that counts point reads. */
function memoryDirectory(users: Array<PlatformUser & Record<string, unknown>>): PlatformDirectory & { gets: string[]; byId: Map<string, StoredPlatformUser> } {
  const byId = new Map<string, StoredPlatformUser>(users.map((u) => [u.id, { ...u, etag: `e-${u.id}-1` }]));
  const gets: string[] = [];
  return {
    gets,
    byId,
    writeRoundTrips: 0,
    async get(_t, id) {
      gets.push(id);
      const u = byId.get(id);
      return u ? { ...u } : undefined;
    },
    async findBy(_t, attribute: LookupAttribute, values) {
      return new Map(values.map((v) => [v, [...byId.values()].filter((u) => typeof u[attribute] === "string" && normalizeLookup(attribute, u[attribute] as string) === normalizeLookup(attribute, v))]));
    },
    async applyUpdates(): Promise<ApplyResult> {
      return { updated: [], failed: [] };
    },
    async importUsers() {
      return { created: 0, replaced: 0 };
    },
    async create(): Promise<StoredPlatformUser> {
      throw new Error("the snapshot never creates users");
    },
    async replace(): Promise<StoredPlatformUser> {
      throw new Error("the snapshot never replaces users");
    },
    async *list() {
      for (const u of byId.values()) yield { ...u };
    },
  };
}

describe("the directory snapshot of a full round (compact records, hashed keys)", () => {
  it("returns each candidate whole — every attribute, unknown ones included, and its ETag — by externalId and by the linking key", async () => {
    const dir = memoryDirectory([
      { id: "p1", tenantId: "t", externalId: "E1", userName: "Anna@School.se", firstName: "Anna", city: "Lund", entraRemovedAt: "2026-01-01T00:00:00Z", entraRemovedReason: "deleted", role: "teacher", grade: 7 },
      { id: "p2", tenantId: "t", userName: "bo@school.se", lastName: "Ek" },
    ]);
    const snap = await snapshotLookup(dir, "t", ["externalId", "userName"]);
    expect(snap.users).toBe(2);
    const byExt = await snap.findBy("t", "externalId", ["E1", "E2"]);
    expect(byExt.get("E1")).toEqual([dir.byId.get("p1")]);
    expect(byExt.get("E2")).toEqual([]);
    const byName = await snap.findBy("t", "userName", [" BO@school.SE", "anna@school.se"]);
    expect(byName.get(" BO@school.SE")).toEqual([dir.byId.get("p2")]);
    expect(byName.get("anna@school.se")?.map((u) => u.id)).toEqual(["p1"]);
    expect(dir.gets).toEqual([]); // answered from the snapshot: no point read
  });

  it("never returns a user whose value only shares the hash of the one asked for", async () => {
    // Two different values with one 32-bit hash (found by brute force: the birthday bound makes it quick).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let n = 0; !pair; n++) {
      const v = `user${n}`;
      const h = lookupHash(v);
      const other = seen.get(h);
      if (other !== undefined) pair = [other, v];
      else seen.set(h, v);
    }
    const [a, b] = pair;
    const dir = memoryDirectory([{ id: "pa", tenantId: "t", externalId: a }]);
    const snap = await snapshotLookup(dir, "t");
    const found = await snap.findBy("t", "externalId", [a, b]);
    expect(found.get(a)?.map((u) => u.id)).toEqual(["pa"]);
    expect(found.get(b)).toEqual([]);
  });

  it("reads a user written during the run again (new ETag and values), once, and asks the directory for attributes it did not index", async () => {
    const dir = memoryDirectory([
      { id: "p1", tenantId: "t", externalId: "E1", city: "Lund", email: "x@y.se" },
      { id: "p2", tenantId: "t", externalId: "E2", city: "Lund" },
    ]);
    const snap = await snapshotLookup(dir, "t");
    const first = await snap.findBy("t", "externalId", ["E1", "E2"]);
    expect(first.get("E1")?.[0]?.etag).toBe("e-p1-1");
    dir.byId.set("p1", { ...dir.byId.get("p1")!, city: "Malmö", etag: "e-p1-2" });
    snap.invalidate(["p1"]);
    const again = await snap.findBy("t", "externalId", ["E1", "E2"]);
    expect(again.get("E1")?.[0]).toMatchObject({ city: "Malmö", etag: "e-p1-2" });
    expect(again.get("E2")?.[0]?.etag).toBe("e-p2-1");
    expect(dir.gets).toEqual(["p1"]);
    expect((await snap.findBy("t", "externalId", ["E1"])).get("E1")?.[0]?.etag).toBe("e-p1-2");
    expect(dir.gets).toEqual(["p1"]); // the fresh copy was kept
    expect((await snap.findBy("t", "email", ["X@y.se"])).get("X@y.se")?.map((u) => u.id)).toEqual(["p1"]);
  });

  it("keeps the records in an encrypted temporary file that no directory lists, and lets it go on close", async () => {
    const snapshotFds = () =>
      readdirSync("/proc/self/fd").flatMap((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).includes("entra-sync-snapshot") ? [fd] : [];
        } catch {
          return [];
        }
      });
    const before = snapshotFds();
    const dir = memoryDirectory(
      Array.from({ length: 500 }, (_, i) => ({ id: `p${i}`, tenantId: "t", externalId: `E${i}`, userName: `Pupil${i}@School.se`, ssn: `20100101-${String(i).padStart(4, "0")}`, city: "Lund" })),
    );
    const snap = await snapshotLookup(dir, "t", ["externalId", "userName"]);
    const opened = snapshotFds().filter((fd) => !before.includes(fd));
    expect(opened).toHaveLength(1);
    // Unlinked as soon as it was open: nothing of it is left in the temporary directory, whatever happens next.
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith(`entra-sync-snapshot-${process.pid}-`))).toEqual([]);
    const onDisk = readFileSync(`/proc/self/fd/${opened[0]}`);
    expect(onDisk.length).toBeGreaterThan(500 * 40);
    for (const plain of ["20100101-0042", "Pupil42@School.se", "Lund", "e-p42-1", '"p42"']) expect(onDisk.includes(plain)).toBe(false);
    // …and every record reads back whole.
    const found = await snap.findBy("t", "userName", ["pupil42@school.se", "PUPIL499@school.se"]);
    expect(found.get("pupil42@school.se")).toEqual([dir.byId.get("p42")]);
    expect(found.get("PUPIL499@school.se")?.map((u) => u.ssn)).toEqual(["20100101-0499"]);
    snap.close();
    snap.close();
    expect(snapshotFds().filter((fd) => !before.includes(fd))).toEqual([]);
    await expect(snap.findBy("t", "externalId", ["E1"])).rejects.toThrow();
  });

  it("reads many records at once exactly as written: neighbours in one span, far ones apart, across chunk padding, repeats and records not yet flushed", () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const file = new RecordFile();
    const texts: string[] = [];
    const where: Array<{ at: number; length: number }> = [];
    const add = (count: number) => {
      for (let i = 0; i < count; i++) {
        // 1 to ~1,200 bytes, some characters 2–4 bytes long in UTF-8, so records start and end anywhere in a block.
        const t = `${texts.length}:` + Array.from({ length: rand(4) === 0 ? rand(12) : 1 + rand(600) }, () => ["a", "ö", "€", "𝄞", "\"", "7"][rand(6)]).join("");
        texts.push(t);
        where.push(file.append(t));
      }
    };
    try {
      add(2_000); // several 64 KiB chunks, each padded to a whole block
      const check = (ids: number[]) => expect(file.readMany(ids.map((i) => where[i]!.at), ids.map((i) => where[i]!.length))).toEqual(ids.map((i) => texts[i]));
      check([]);
      check([0]);
      check([5, 4, 6, 3]); // neighbours: one span, asked out of order
      check([1_999, 0, 1_000, 17, 1_001, 17]); // far apart, and one asked twice
      check(Array.from({ length: 200 }, () => rand(2_000)));
      // A record that ends one 64 KiB chunk and the first of the next, read together (the padding between them inside
      // the span).
      const lastOfChunk = where.findIndex((w, i) => i + 1 < where.length && Math.floor(w.at / 65_536) !== Math.floor(where[i + 1]!.at / 65_536));
      check([lastOfChunk, lastOfChunk + 1, lastOfChunk - 1]);
      add(30); // not flushed yet: a read flushes them first
      check([2_029, 2_000, 1_999, 3]);
      add(500);
      check(Array.from({ length: texts.length }, (_, i) => i));
      for (let i = 0; i < texts.length; i += 97) expect(file.read(where[i]!.at, where[i]!.length)).toBe(texts[i]);
    } finally {
      file.close();
    }
  });

  it("says which directory to make writable when the temporary directory refuses the file", async () => {
    const was = process.env.TMPDIR;
    process.env.TMPDIR = "/proc/no-such-dir";
    try {
      await expect(snapshotLookup(memoryDirectory([]), "t")).rejects.toMatchObject({ code: "STORAGE_FAILED", message: expect.stringMatching(/\/proc\/no-such-dir.*set TMPDIR/) });
    } finally {
      if (was === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = was;
    }
  });
});
