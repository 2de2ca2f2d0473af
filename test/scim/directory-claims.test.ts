import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { PlatformUser } from "../../src/directory/types.js";
import { EntraSyncError } from "../../src/errors.js";
import { useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();
const dir = () => stackOf().app.directory;
const codeOf = async (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof EntraSyncError ? e.code : String(e)));
const scimUser = (tenantId: string, userName: string, externalId: string = randomUUID()): PlatformUser => ({ id: randomUUID(), tenantId, userName, uniqueUserName: true, externalId, uniqueExternalId: true });

async function rowKeys(tenantId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of stackOf().app.tables.platformUsers.listEntities({ queryOptions: { filter: `PartitionKey eq '${tenantId}'` } })) out.push(e.rowKey!);
  return out.sort();
}

describe("platform directory: a userName held unique (users created through SCIM)", () => {
  it("lets exactly one of many concurrent creates with the same userName (any case) through; the others write nothing", async () => {
    const t = randomUUID();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => codeOf(dir().create(t, scimUser(t, i % 2 ? "Kim@School.example" : "kim@school.example")))));
    expect(results.filter((r) => r === "ok")).toHaveLength(1);
    expect(results.filter((r) => r === "DIRECTORY_DUPLICATE")).toHaveLength(7);
    const users = [];
    for await (const u of dir().list(t)) users.push(u);
    expect(users).toHaveLength(1);
    // The user, its three index entries (externalId, userName … no email) and its claim: nothing of the refused ones.
    expect((await rowKeys(t)).filter((k) => k.startsWith("!unique|userName|"))).toHaveLength(1);
    expect(await dir().repairIndex!(t, { dryRun: true })).toEqual({ entries: 0, users: [] });
  });

  it("moves the claim with the userName, also when update sync changes it, and refuses a change onto a held name", async () => {
    const t = randomUUID();
    const a = await dir().create(t, scimUser(t, "a@school.example"));
    const b = await dir().create(t, scimUser(t, "b@school.example"));
    const renamed = await dir().applyUpdates(t, [{ user: a, changes: { userName: "a2@school.example" } }]);
    expect(renamed.updated).toEqual([a.id]);
    expect(await codeOf(dir().create(t, scimUser(t, "A@school.example")))).toBe("ok"); // the old name is free
    expect(await codeOf(dir().create(t, scimUser(t, "a2@school.example")))).toBe("DIRECTORY_DUPLICATE");
    const clash = await dir().applyUpdates(t, [{ user: b, changes: { userName: "A2@school.example" } }]);
    expect(clash.updated).toEqual([]);
    expect(clash.failed).toHaveLength(1);
    expect((await dir().get(t, b.id))?.userName).toBe("b@school.example");
    // replace: a stale ETag is a conflict; a user let go of uniqueness frees its name.
    expect(await codeOf(dir().replace(t, b, { ...b, userName: "b3@school.example" }))).toBe("ok");
    expect(await codeOf(dir().replace(t, b, { ...b, userName: "b4@school.example" }))).toBe("STORAGE_CONFLICT");
    const fresh = (await dir().get(t, b.id))!;
    await dir().replace(t, fresh, { ...fresh, uniqueUserName: false });
    expect(await codeOf(dir().create(t, scimUser(t, "b3@school.example")))).toBe("ok");
    expect(await dir().repairIndex!(t, { dryRun: true })).toEqual({ entries: 0, users: [] });
  });

  it("holds the externalId unique too (exactly, not ignoring case): of concurrent creates one wins, the others write nothing", async () => {
    const t = randomUUID();
    const externalId = randomUUID();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => dir().create(t, scimUser(t, `twin${i}@school.example`, externalId)).then(() => "ok", (e: unknown) => (e instanceof EntraSyncError ? `${e.code}:${String(e.field)}` : String(e)))));
    expect(results.filter((r) => r === "ok")).toHaveLength(1);
    expect(results.filter((r) => r === "DIRECTORY_DUPLICATE:externalId")).toHaveLength(5);
    expect((await rowKeys(t)).filter((k) => k.startsWith("!unique|externalId|"))).toHaveLength(1);
    expect(await codeOf(dir().create(t, scimUser(t, "upper@school.example", externalId.toUpperCase())))).toBe("ok");
    expect(await dir().repairIndex!(t, { dryRun: true })).toEqual({ entries: 0, users: [] });
  });

  it("erase removes the user with its entries and claims; a claim left by a racing write is taken over by the next claimant", async () => {
    const t = randomUUID();
    await dir().create(t, scimUser(t, "stay@school.example"));
    const withB = await rowKeys(t);
    const a = await dir().create(t, scimUser(t, "era@school.example"));
    expect((await rowKeys(t)).length).toBe(withB.length + 5); // the user, 3 index entries (externalId, userName … no email), 2 claims
    await dir().erase!(t, a);
    expect(await dir().get(t, a.id)).toBeUndefined();
    expect(await rowKeys(t)).toEqual(withB);
    expect(await codeOf(dir().erase!(t, a))).toBe("STORAGE_CONFLICT");
    // A claim whose user is gone (a write that raced an erase) does not block the value for ever.
    await stackOf().app.tables.platformUsers.createEntity({ partitionKey: t, rowKey: "!unique|userName|orphan%40school.example", userId: "erased-meanwhile" });
    expect(await codeOf(dir().create(t, scimUser(t, "Orphan@school.example")))).toBe("ok");
    expect(await codeOf(dir().create(t, scimUser(t, "orphan@school.example")))).toBe("DIRECTORY_DUPLICATE");
  });

  it("repairIndex keeps valid claims, removes a stale one and makes a missing one again", async () => {
    const t = randomUUID();
    const a = await dir().create(t, scimUser(t, "r@school.example"));
    const table = stackOf().app.tables.platformUsers;
    const claim = (await rowKeys(t)).find((k) => k.startsWith("!unique|userName|"))!;
    await table.createEntity({ partitionKey: t, rowKey: "!unique|userName|stale%40school.example", userId: "gone" });
    await table.deleteEntity(t, claim);
    const found = await dir().repairIndex!(t);
    expect(found.entries).toBe(2);
    expect(found.users.sort()).toEqual([a.id, "gone"].sort());
    expect((await rowKeys(t)).filter((k) => k.startsWith("!unique|userName|"))).toEqual([claim]);
    expect(await codeOf(dir().create(t, scimUser(t, "R@school.example")))).toBe("DIRECTORY_DUPLICATE");
    expect(await codeOf(dir().create(t, scimUser(t, "stale@school.example")))).toBe("ok");
  });
});
