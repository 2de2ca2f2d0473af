import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { createRun, executeRun } from "../../src/runs/execute.js";
import type { RunReport } from "../../src/runs/report.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { entraUser, expectScimError, scimClient, serveOverHttp } from "./helpers.js";

const stackOf = useLocalStack();
const served = serveOverHttp(() => stackOf().app);

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), readStdin: async () => "", isTTY: false };
  const code = await runCli(args, io, () => stackOf().app);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function run(tenantId: string, only: Array<"update" | "immutableId">, mode: "full" | "incremental" = "incremental"): Promise<RunReport> {
  const r = await createRun(stackOf().app, { tenantId, trigger: "manual", mode, dryRun: false, only });
  return (await executeRun(stackOf().app, tenantId, r.runId)).report;
}

/** RowKeys of the tenant's partition of the platform directory (users, index entries, claims). */
async function rowKeys(tenantId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of stackOf().app.tables.platformUsers.listEntities({ queryOptions: { filter: `PartitionKey eq '${tenantId}'` } })) out.push(e.rowKey!);
  return out.sort();
}

/** A tenant with a SCIM token whose DELETE is set to erase through the CLI. */
async function erasingTenant(tenantId: string = randomUUID()) {
  const { token } = await stackOf().app.scimTokens.create(tenantId);
  const set = await cli(["scim", "settings", "set", "--tenant", tenantId, "--delete", "erase"]);
  expect(set.code, set.err).toBe(0);
  return { tenantId, scim: scimClient(`${served.url()}/api/scim/v2/${tenantId}`, token) };
}

describe("scim settings: what DELETE does", () => {
  it("sets and shows the delete mode, keeps it when attributes are declared, and refuses an unknown mode", async () => {
    const tenantId = randomUUID();
    const shown = await cli(["scim", "settings", "show", "--tenant", tenantId, "--json"]);
    expect(JSON.parse(shown.out)).toMatchObject({ onDelete: "mark" });
    expect((await cli(["scim", "settings", "set", "--tenant", tenantId, "--delete", "erase"])).out).toMatch(/DELETE erases the platform user/);
    await cli(["scim", "attributes", "set", "--tenant", tenantId, "--extension", "IDmelon", "--attribute", "immutable_id=idpIdentifier"]);
    const after = await cli(["scim", "attributes", "show", "--tenant", tenantId]);
    expect(after.out).toMatch(/DELETE erases .*\(--delete erase\)/);
    expect(after.out).toContain("idpIdentifier");
    const bad = await cli(["scim", "settings", "set", "--tenant", tenantId, "--delete", "drop"]);
    expect(bad.code).toBe(2);
    const none = await cli(["scim", "settings", "set", "--tenant", tenantId]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/INPUT_INVALID.*--delete mark\|erase/);
  });
});

describe("SCIM DELETE with --delete erase", () => {
  it("erases the user, its index entries and its claims; the userName and externalId are free; a new POST makes a new user", async () => {
    const { tenantId, scim } = await erasingTenant();
    const externalId = randomUUID();
    const kept = await scim("POST", "/Users", entraUser("kept@school.example", randomUUID()));
    const before = await rowKeys(tenantId);
    const created = await scim("POST", "/Users", entraUser("gone@school.example", externalId));
    expect(created.status, created.text).toBe(201);
    const id = created.body!.id as string;
    expect((await rowKeys(tenantId)).length).toBeGreaterThan(before.length);

    const group = await scim("POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "Class 7B", members: [{ value: id }, { value: kept.body!.id }] });
    expect(group.status, group.text).toBe(201);

    const del = await scim("DELETE", `/Users/${id}`);
    expect(del.status, del.text).toBe(204);
    const members = ((await scim("GET", `/Groups/${group.body!.id as string}`)).body!.members as Array<{ value: string }>).map((m) => m.value);
    expect(members).toEqual([kept.body!.id]);
    expect(await stackOf().app.directory.get(tenantId, id)).toBeUndefined();
    expect(await rowKeys(tenantId)).toEqual(before); // no user row, no entry, no claim left of it
    expectScimError(await scim("GET", `/Users/${id}`), 404);
    expectScimError(await scim("DELETE", `/Users/${id}`), 404);
    expect((await stackOf().app.scimAudit.list(tenantId))[0]).toMatchObject({ operation: "erase", resourceId: id, status: 204 });

    const again = await scim("POST", "/Users", entraUser("GONE@school.example", externalId));
    expect(again.status, again.text).toBe(201);
    expect(again.body!.id).not.toBe(id);
    expect((await scim("GET", `/Users/${kept.body!.id as string}`)).status).toBe(200);
  });

  it("leaves no ghost: update sync and Immutable ID sync no longer treat the Entra user as matched, and nothing recreates it", async () => {
    const d = simpleDirectory(4);
    const { tenant } = await onboard(stackOf(), { users: d.users });
    const { tenantId, scim } = await erasingTenant(tenant.tenantId);
    // Entra's provisioning creates the platform users (externalId = the Entra object id), then the runs find them.
    const ids: string[] = [];
    for (const u of d.users) {
      const r = await scim("POST", "/Users", entraUser(u.userPrincipalName!, u.id));
      expect(r.status, r.text).toBe(201);
      ids.push(r.body!.id as string);
    }
    const first = await run(tenantId, ["update", "immutableId"], "full");
    expect(first.update).toMatchObject({ read: 4, matched: 4, unmatched: 0 });
    expect(first.immutableId?.planned).toBe(4);

    expect((await scim("DELETE", `/Users/${ids[0]!}`)).status).toBe(204);
    const row = await stackOf().app.connector.get(tenantId, d.users[0]!.id);
    expect(row).toMatchObject({ match: "unmatched" });
    expect(row?.platformUserId).toBeUndefined();

    // Nothing changed in Entra: the plan looks at the released row again and drops it.
    const plan = await run(tenantId, ["immutableId"]);
    expect(plan.immutableId).toMatchObject({ planned: 3 });
    expect(plan.immutableId?.skipped.noPlatformMatch).toBe(1);

    // The Entra user changes, and a full read follows: unmatched both times, never recreated.
    stackOf().sim.control.updateUser(tenantId, d.users[0]!.id, { city: "Visby" });
    const incremental = await run(tenantId, ["update", "immutableId"]);
    expect(incremental.update).toMatchObject({ read: 1, matched: 0, unmatched: 1, failed: 0 });
    const full = await run(tenantId, ["update", "immutableId"], "full");
    expect(full.update).toMatchObject({ read: 4, matched: 3, unmatched: 1, failed: 0 });
    expect(full.immutableId?.planned).toBe(3);
    const users = [];
    for await (const u of stackOf().app.directory.list(tenantId)) users.push(u.id);
    expect(users.sort()).toEqual(ids.slice(1).sort());
  });
});
