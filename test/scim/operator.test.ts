import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { ScimTokenStore, VERIFIED_CACHE_MS } from "../../src/scim/tokens.js";
import { TABLES } from "../../src/state/tables.js";
import { useLocalStack } from "../support/stack.js";
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

/** Every row of the SCIM tables and the platform directory, as stored. */
async function everyRow(): Promise<string> {
  const rows: unknown[] = [];
  for (const name of [TABLES.scimTokens, TABLES.scimAudit, TABLES.scimGroups, TABLES.scimSettings, TABLES.platformUsers]) {
    const client = Object.values(stackOf().app.tables).find((c) => c.tableName === name)!;
    for await (const e of client.listEntities()) rows.push(e);
  }
  return JSON.stringify(rows);
}

describe("scim token create | rotate | revoke | list", () => {
  it("prints the token once with the tenant URL, keeps only its hash, and lets two live tokens work during a rotation", async () => {
    const tenantId = randomUUID();
    const made = await cli(["scim", "token", "create", "--tenant", tenantId, "--json", "--app-url", served.url()]);
    expect(made.code, made.err).toBe(0);
    const { token, scimUrl, tokenId } = JSON.parse(made.out) as { token: string; scimUrl: string; tokenId: string };
    expect(scimUrl).toBe(`${served.url()}/api/scim/v2/${tenantId}`);
    expect(token).toMatch(new RegExp(`^scim_${tokenId}_[A-Za-z0-9_-]{43}$`));
    expect(token.length).toBeLessThan(100); // fits Entra's Secret Token field
    const call = (t: string) => scimClient(scimUrl, t)("GET", "/Users?count=1");
    expect((await call(token)).status).toBe(200);

    const again = await cli(["scim", "token", "create", "--tenant", tenantId]);
    expect(again.code).toBe(2);
    expect(again.err).toContain("INPUT_INVALID");
    expect(again.err).toContain("rotate");

    const rotated = JSON.parse((await cli(["scim", "token", "rotate", "--tenant", tenantId, "--json"])).out) as { token: string; tokenId: string; revoked?: string[] };
    expect(rotated.revoked).toBeUndefined();
    expect((await call(token)).status).toBe(200);
    expect((await call(rotated.token)).status).toBe(200);
    const listed = JSON.parse((await cli(["scim", "token", "list", "--tenant", tenantId, "--json"])).out) as Array<{ tokenId: string }>;
    expect(listed.map((t) => t.tokenId).sort()).toEqual([tokenId, rotated.tokenId].sort());
    const third = JSON.parse((await cli(["scim", "token", "rotate", "--tenant", tenantId, "--json"])).out) as { token: string; revoked: string[] };
    expect(third.revoked).toEqual([tokenId]);
    expectScimError(await call(token), 401);

    expect((await cli(["scim", "token", "revoke", "--tenant", tenantId])).code).toBe(2);
    const revoked = await cli(["scim", "token", "revoke", "--tenant", tenantId, "--token-id", rotated.tokenId]);
    expect(revoked.code, revoked.err).toBe(0);
    expectScimError(await call(rotated.token), 401);
    expect((await call(third.token)).status).toBe(200);

    // No token, nor its random part, in any row of any table (only the SHA-256 is kept).
    const stored = await everyRow();
    for (const t of [token, rotated.token, third.token]) {
      expect(stored).not.toContain(t);
      expect(stored).not.toContain(t.slice(-43));
      expect(stored).not.toContain(Buffer.from(t).toString("base64"));
    }
  });

  it("a token revoked on one instance stops working on another once its 10 s of trust have passed", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const clock = () => new Date(now);
    const a = new ScimTokenStore(stackOf().app.tables.scimTokens, clock);
    const b = new ScimTokenStore(stackOf().app.tables.scimTokens, clock);
    const tenantId = randomUUID();
    const { token, info } = await a.create(tenantId);
    expect(await b.verify(token)).toEqual({ tenantId, tokenId: info.tokenId });
    await a.revoke(tenantId, { all: true });
    expect(await a.verify(token)).toBeUndefined(); // at once where it was revoked
    now += VERIFIED_CACHE_MS + 1;
    expect(await b.verify(token)).toBeUndefined();
  });

  it("lists the tenant's SCIM writes for the operator", async () => {
    const tenantId = randomUUID();
    const { token } = JSON.parse((await cli(["scim", "token", "create", "--tenant", tenantId, "--json"])).out) as { token: string };
    const scim = scimClient(`${served.url()}/api/scim/v2/${tenantId}`, token);
    const id = (await scim("POST", "/Users", entraUser("op@school.example", randomUUID()))).body!.id as string;
    const audit = await cli(["scim", "audit", "--tenant", tenantId, "--json"]);
    expect(audit.code, audit.err).toBe(0);
    expect(JSON.parse(audit.out)).toMatchObject([{ tenantId, operation: "create", resource: "User", resourceId: id, status: 201 }]);
    expect((await cli(["scim", "audit", "--tenant", tenantId])).out).toContain("create");
  });
});

describe("custom extension attributes", () => {
  it("lands declared attributes in a column or under the prefix, accepts the block without its URN in schemas, advertises it, and answers it back", async () => {
    const tenantId = randomUUID();
    const { token } = JSON.parse((await cli(["scim", "token", "create", "--tenant", tenantId, "--json"])).out) as { token: string };
    const set = await cli(["scim", "attributes", "set", "--tenant", tenantId, "--extension", "IDmelon", "--attribute", "immutable_id=idpIdentifier,zipcode", "--prefix", "entraid_attributes"]);
    expect(set.code, set.err).toBe(0);
    expect(set.out).toContain("entraid_attributes.zipcode");
    const urn = "urn:ietf:params:scim:schemas:extension:IDmelon:2.0:User";
    const scim = scimClient(`${served.url()}/api/scim/v2/${tenantId}`, token);
    const r = await scim("POST", "/Users", entraUser("ext@school.example", randomUUID(), { [urn]: { immutable_id: "AbC==", zipcode: "22100" } }));
    expect(r.status, r.text).toBe(201);
    expect(r.body![urn]).toEqual({ immutable_id: "AbC==", zipcode: "22100" });
    expect(r.body!.schemas).toContain(urn);
    const platform = await stackOf().app.directory.get(tenantId, r.body!.id as string);
    expect(platform?.idpIdentifier).toBe("AbC==");
    expect(JSON.parse(platform!.extraAttributes!)).toEqual({ "entraid_attributes.zipcode": "22100" });

    const p = await scim("PATCH", `/Users/${r.body!.id as string}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "IDmelon:zipcode", value: "22200" }] });
    expect(p.status, p.text).toBe(200);
    expect(JSON.parse((await stackOf().app.directory.get(tenantId, r.body!.id as string))!.extraAttributes!)).toEqual({ "entraid_attributes.zipcode": "22200" });
    expectScimError(await scim("PATCH", `/Users/${r.body!.id as string}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Add", path: "custom:country", value: "SE" }] }), 400, "invalidPath");

    const schemas = await scim("GET", `/Schemas/${encodeURIComponent(urn)}`);
    expect(schemas.status).toBe(200);
    expect((schemas.body!.attributes as Array<{ name: string }>).map((a) => a.name)).toEqual(["immutable_id", "zipcode"]);
    const types = await scim("GET", "/ResourceTypes/User");
    expect(types.body!.schemaExtensions).toContainEqual({ schema: urn, required: false });
  });

  it("keeps undeclared extension data under the prefix by default, or refuses it by name when the tenant says so", async () => {
    const tenantId = randomUUID();
    const { token } = JSON.parse((await cli(["scim", "token", "create", "--tenant", tenantId, "--json"])).out) as { token: string };
    const scim = scimClient(`${served.url()}/api/scim/v2/${tenantId}`, token);
    const urn = "urn:ietf:params:scim:schemas:extension:Other:2.0:User";
    const kept = await scim("POST", "/Users", entraUser("kept@school.example", randomUUID(), { [urn]: { badge: "7" } }));
    expect(kept.status).toBe(201);
    expect(JSON.parse((await stackOf().app.directory.get(tenantId, kept.body!.id as string))!.extraAttributes!)).toEqual({ "scim.badge": "7" });
    await cli(["scim", "attributes", "set", "--tenant", tenantId, "--undeclared", "refuse"]);
    const refused = await scim("POST", "/Users", entraUser("refused@school.example", randomUUID(), { [urn]: { badge: "7" } }));
    expectScimError(refused, 400, "invalidValue");
    expect(refused.body!.detail).toContain(`${urn}:badge`);
    expect((await cli(["scim", "attributes", "set", "--tenant", tenantId, "--extension", "bad name", "--attribute", "x"])).code).toBe(2);
    expect((await cli(["scim", "attributes", "set", "--tenant", tenantId, "--extension", "X", "--attribute", "x=password"])).code).toBe(2);
  });
});
