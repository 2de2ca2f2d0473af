import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { TablePlatformDirectory } from "../../src/directory/table-directory.js";
import { snapshotLookup } from "../../src/directory/snapshot.js";
import { TABLE_LIMITS } from "../../src/state/tables-client.js";
import type { PlatformUser } from "../../src/directory/types.js";
import { EntraSyncError } from "../../src/errors.js";
import { createRun, executeRun } from "../../src/runs/execute.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import type { LocalStack } from "../../dev/stack.js";

const stackOf = useLocalStack({ simulator: { pageSize: 50 } });

/** Every row of the directory's table in one tenant's partition, as stored. */
async function rows(stack: LocalStack, tenantId: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for await (const e of stack.app.tables.platformUsers.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${tenantId}'` } })) out.push(e);
  return out;
}

/** Keys and string properties of every stored row within Table Storage's limits (Azurite does not check them all). */
function expectWithinTableLimits(list: Array<Record<string, unknown>>): void {
  for (const r of list) {
    expect((r.rowKey as string).length).toBeLessThanOrEqual(TABLE_LIMITS.keyChars);
    for (const v of Object.values(r)) if (typeof v === "string") expect(v.length).toBeLessThanOrEqual(TABLE_LIMITS.stringChars);
  }
}

const newTenant = () => randomUUID();
const directoryOf = (stack: LocalStack) => stack.app.directory as TablePlatformDirectory;

async function cli(stack: LocalStack, args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), readStdin: async () => "", isTTY: false };
  const code = await runCli(args, io, () => stack.app);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("table platform directory: index and limits", () => {
  it("refuses a user whose index key would exceed 1 KiB, naming the user and the field, and writes nothing", async () => {
    const stack = stackOf();
    const t = newTenant();
    const users: PlatformUser[] = [
      { id: "p-1", tenantId: t, userName: "ok@school.example" },
      // 300 characters that URL-encoding triples: far over the key limit once encoded
      { id: "p-2", tenantId: t, userName: `${"å".repeat(300)}@school.example` },
    ];
    const e = await directoryOf(stack).importUsers(t, users).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EntraSyncError);
    expect((e as EntraSyncError).code).toBe("INPUT_INVALID");
    expect((e as EntraSyncError).field).toBe("userName");
    expect((e as EntraSyncError).message).toContain("p-2");
    expect(await rows(stack, t)).toEqual([]);
  });

  it("the users import command refuses such a file with exit 2 and imports nothing", async () => {
    const stack = stackOf();
    const { tenant } = await onboard(stack, { users: [] });
    const dir = mkdtempSync(path.join(tmpdir(), "import-"));
    const file = path.join(dir, "users.json");
    writeFileSync(file, JSON.stringify([{ id: "a", email: "a@school.example" }, { id: "b", email: `${"%".repeat(200)}@school.example` }]));
    const r = await cli(stack, ["users", "import", file, "--tenant", tenant.tenantId]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/INPUT_INVALID/);
    expect(r.err).toMatch(/"b".*email/);
    expect(await rows(stack, tenant.tenantId)).toEqual([]);
  });

  it("indexes 1,200 users that share one e-mail, every row within Table Storage's limits", async () => {
    const stack = stackOf();
    const t = newTenant();
    const users: PlatformUser[] = Array.from({ length: 1200 }, () => ({ id: `user-${randomUUID()}`, tenantId: t, email: "Parents@School.example", userName: `${randomUUID()}@school.example` }));
    expect(await directoryOf(stack).importUsers(t, users)).toEqual({ created: 1200, replaced: 0 });
    expectWithinTableLimits(await rows(stack, t));
    const found = await stack.app.directory.findBy(t, "email", ["parents@school.example"]);
    expect(found.get("parents@school.example")?.map((u) => u.id).sort()).toEqual(users.map((u) => u.id).sort());
    const one = await stack.app.directory.findBy(t, "userName", [users[7]!.userName!.toUpperCase()]);
    expect(one.get(users[7]!.userName!.toUpperCase())?.map((u) => u.id)).toEqual([users[7]!.id]);
  });

  it("moves index entries with the user: a replaced or updated value is found by its new value only, and no entry is left over", async () => {
    const stack = stackOf();
    const t = newTenant();
    const dir = directoryOf(stack);
    await dir.importUsers(t, [{ id: "u1", tenantId: t, email: "old@school.example", userName: "u1@school.example" }]);
    await dir.importUsers(t, [{ id: "u1", tenantId: t, email: "new@school.example", userName: "u1@school.example" }]);
    const u1 = (await dir.get(t, "u1"))!;
    const r = await dir.applyUpdates(t, [{ user: u1, changes: { externalId: "ext-1", userName: "renamed@school.example" } }]);
    expect(r).toEqual({ updated: ["u1"], failed: [] });
    expect((await dir.findBy(t, "email", ["old@school.example"])).get("old@school.example")).toEqual([]);
    expect((await dir.findBy(t, "email", ["new@school.example"])).get("new@school.example")?.map((u) => u.id)).toEqual(["u1"]);
    expect((await dir.findBy(t, "externalId", ["ext-1"])).get("ext-1")?.map((u) => u.id)).toEqual(["u1"]);
    expect((await dir.findBy(t, "userName", ["u1@school.example"])).get("u1@school.example")).toEqual([]);
    expect(await dir.repairIndex(t)).toEqual({ entries: 0, users: [] });
    expect((await rows(stack, t)).map((r) => r.rowKey).sort()).toEqual(["!email|new%40school.example|u1", "!externalId|ext-1|u1", "!userName|renamed%40school.example|u1", "u1"]);
  });

  it("a write that meets a concurrent change or an entry already gone is redone from a fresh read, entries right", async () => {
    const stack = stackOf();
    const t = newTenant();
    const dir = directoryOf(stack);
    await dir.importUsers(t, [
      { id: "a", tenantId: t, email: "a@school.example" },
      { id: "b", tenantId: t, email: "b@school.example" },
    ]);
    const staleA = (await dir.get(t, "a"))!;
    await dir.applyUpdates(t, [{ user: staleA, changes: { city: "Lund" } }]); // staleA's ETag is now old
    await stack.app.tables.platformUsers.deleteEntity(t, "!email|b%40school.example|b"); // b's entry already gone
    const r = await dir.applyUpdates(t, [
      { user: staleA, changes: { email: "a2@school.example" } },
      { user: (await dir.get(t, "b"))!, changes: { email: "b2@school.example" } },
    ]);
    expect(r.failed).toEqual([]);
    expect((await dir.get(t, "a"))?.city).toBe("Lund"); // the concurrent change kept
    expect((await rows(stack, t)).map((x) => x.rowKey).sort()).toEqual(["!email|a2%40school.example|a", "!email|b2%40school.example|b", "a", "b"]);
  });

  it("a user read from a full round's snapshot and changed through SCIM before the round writes it keeps that change (ETag)", async () => {
    const stack = stackOf();
    const t = newTenant();
    const dir = directoryOf(stack);
    await dir.importUsers(t, [{ id: "a", tenantId: t, externalId: "E-a", userName: "a@school.example", city: "Lund" }]);
    const snap = await snapshotLookup(dir, t, ["externalId", "userName"]);
    try {
      const fromSnapshot = (await snap.findBy(t, "externalId", ["E-a"])).get("E-a")![0]!;
      // Entra's provisioning service replaces the user meanwhile.
      await dir.replace(t, (await dir.get(t, "a"))!, { id: "a", tenantId: t, externalId: "E-a", userName: "a@school.example", city: "Lund", mobilePhone: "+46 70 000 00 00" });
      const r = await dir.applyUpdates(t, [{ user: fromSnapshot, changes: { city: "Malmö" } }]);
      expect(r).toEqual({ updated: ["a"], failed: [] });
      expect(await dir.get(t, "a")).toMatchObject({ city: "Malmö", mobilePhone: "+46 70 000 00 00" });
    } finally {
      snap.close();
    }
  });

  it("a full run finds, fixes and reports index drift; the next incremental run then matches every user", async () => {
    const stack = stackOf();
    const d = simpleDirectory(12);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    const t = tenant.tenantId;
    const run = async (mode: "full" | "incremental") => {
      const r = await createRun(stack.app, { tenantId: t, trigger: "manual", mode, dryRun: false, only: ["update"] });
      return (await executeRun(stack.app, t, r.runId)).report;
    };
    expect((await run("full")).update.indexRepaired).toBe(0);
    // Drift as an outside writer (or an older layout) could leave it: entries missing, one stale, one orphan.
    const table = stack.app.tables.platformUsers;
    for (const p of d.platformUsers.slice(0, 5)) await table.deleteEntity(t, `!externalId|${p.externalId}|${p.id}`);
    await table.createEntity({ partitionKey: t, rowKey: `!email|stale%40school.example|${d.platformUsers[6]!.id}` });
    await table.createEntity({ partitionKey: t, rowKey: "!email|nobody%40school.example|p-gone" });

    const full = await run("full");
    expect(full.update.indexRepaired).toBe(7);
    const drift = full.errors.find((e) => e.code === "DIRECTORY_INDEX_DRIFT");
    expect(drift?.users?.sort()).toEqual([...d.platformUsers.slice(0, 5).map((p) => p.id), d.platformUsers[6]!.id, "p-gone"].sort());
    expect(await directoryOf(stack).repairIndex(t)).toEqual({ entries: 0, users: [] });

    for (const u of d.users) stack.sim.control.updateUser(t, u.id, { city: "Visby" });
    const inc = await run("incremental");
    expect(inc.update).toMatchObject({ read: 12, matched: 12, updated: 12, unmatched: 0 });
    expect(inc.update.indexRepaired).toBeUndefined(); // incremental runs do not scan the directory
  });

  it("a first sync reads the directory once: the index check's read is the round's snapshot", async () => {
    const stack = stackOf();
    const d = simpleDirectory(12);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    const t = tenant.tenantId;
    const table = stack.app.tables.platformUsers;
    for (const p of d.platformUsers.slice(0, 2)) await table.deleteEntity(t, `!externalId|${p.externalId}|${p.id}`);
    // Platform user rows read (GET answers of the table; index entries start with "!").
    let userRowsRead = 0;
    table.pipeline.addPolicy({
      name: "countUserRows",
      async sendRequest(req, next) {
        const res = await next(req);
        if (req.method === "GET" && res.bodyAsText) userRowsRead += (res.bodyAsText.match(/"RowKey":"(?!!)/g) ?? []).length;
        return res;
      },
    });
    const r = await createRun(stack.app, { tenantId: t, trigger: "manual", mode: "full", dryRun: false, only: ["update"] });
    const report = (await executeRun(stack.app, t, r.runId)).report;
    expect(report.update).toMatchObject({ read: 12, matched: 12, indexRepaired: 2, indexChecked: true });
    expect(report.errors.find((e) => e.code === "DIRECTORY_INDEX_DRIFT")?.users?.sort()).toEqual(d.platformUsers.slice(0, 2).map((p) => p.id).sort());
    // Each user once; the two the check rewrote once more (new ETags) when the round looked them up.
    expect(userRowsRead).toBe(12 + 2);
    expect(await directoryOf(stack).repairIndex(t)).toEqual({ entries: 0, users: [] });
  });

  it("a dry full run counts drift without fixing it", async () => {
    const stack = stackOf();
    const d = simpleDirectory(3);
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers });
    const t = tenant.tenantId;
    await stack.app.tables.platformUsers.deleteEntity(t, `!externalId|${d.platformUsers[0]!.externalId}|${d.platformUsers[0]!.id}`);
    const r = await createRun(stack.app, { tenantId: t, trigger: "manual", mode: "full", dryRun: true, only: ["update"] });
    const report = (await executeRun(stack.app, t, r.runId)).report;
    expect(report.errors.find((e) => e.code === "DIRECTORY_INDEX_DRIFT")?.users).toEqual([d.platformUsers[0]!.id]);
    expect(await directoryOf(stack).repairIndex(t, { dryRun: true })).toEqual({ entries: 1, users: [d.platformUsers[0]!.id] });
  });
});
