import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log.js";
import { ScimEndpoint } from "../../src/scim/endpoint.js";
import { ScimGroupStore } from "../../src/scim/groups.js";
import { RateLimiter } from "../../src/scim/rate-limit.js";
import { useLocalStack } from "../support/stack.js";
import { entraUser, expectScimError, SCIM_JSON, scimClient, serveOverHttp } from "./helpers.js";

const stackOf = useLocalStack();
const served = serveOverHttp(() => stackOf().app);

/** A tenant with a fresh token; `base` is the Tenant URL an admin pastes into Entra. */
async function tenantWithToken() {
  const tenantId = randomUUID();
  const { token, info } = await stackOf().app.scimTokens.create(tenantId);
  const base = `${served.url()}/api/scim/v2/${tenantId}`;
  return { tenantId, token, tokenId: info.tokenId, base, scim: scimClient(base, token) };
}

const LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

describe("SCIM: Test Connection and matching queries", () => {
  it("answers a random-GUID probe on /Users and /Groups with 200 and an empty ListResponse, never 404", async () => {
    const { scim } = await tenantWithToken();
    for (const path of [
      `/Users?filter=${encodeURIComponent(`userName eq "${randomUUID()}"`)}`,
      `/Users?filter=${encodeURIComponent(`externalId eq ${randomUUID()}`)}`,
      `/Groups?excludedAttributes=members&filter=${encodeURIComponent(`displayName eq "${randomUUID()}"`)}`,
    ]) {
      const r = await scim("GET", path);
      expect(r.status, path).toBe(200);
      expect(r.headers.get("content-type")).toMatch(SCIM_JSON);
      expect(r.body).toEqual({ schemas: [LIST], totalResults: 0, Resources: [], startIndex: 1, itemsPerPage: 0 });
    }
  });

  it("matches userName ignoring case, externalId exactly, bare values as strings, attribute names and eq in any case", async () => {
    const { scim } = await tenantWithToken();
    const externalId = randomUUID();
    const created = await scim("POST", "/Users", entraUser("Ada@School.example", externalId));
    expect(created.status, created.text).toBe(201);
    const id = created.body!.id;
    const q = async (f: string) => (await scim("GET", `/Users?filter=${encodeURIComponent(f)}`)).body as { totalResults: number; Resources: Array<{ id: string }> };
    expect((await q('userName eq "ada@school.EXAMPLE"')).Resources.map((r) => r.id)).toEqual([id]);
    expect((await q(`USERNAME EQ "ada@school.example"`)).totalResults).toBe(1);
    expect((await q(`externalId eq ${externalId}`)).Resources.map((r) => r.id)).toEqual([id]);
    expect((await q(`externalId eq "${externalId.toUpperCase()}"`)).totalResults).toBe(0);
    expect((await q(`userName eq "ada@school.example" and externalId eq "${externalId}"`)).totalResults).toBe(1);
    expect((await q(`emails[type eq "work"].value eq "ADA@school.example"`)).totalResults).toBe(1);
    // A bare number is a string: "12345" matches the string, it is not compared as a number.
    const n = await scim("POST", "/Users", entraUser("numbers@school.example", "12345"));
    expect(n.status).toBe(201);
    expect((await q("externalId eq 12345")).Resources.map((r) => r.id)).toEqual([n.body!.id]);
  });

  it("refuses every other filter with 400 invalidFilter, saying what is supported", async () => {
    const { scim } = await tenantWithToken();
    for (const f of ['userName sw "a"', 'userName eq "a" or userName eq "b"', '(userName eq "a")', 'userName eq "a" and', "userName", 'userName eq "unclosed']) {
      const r = await scim("GET", `/Users?filter=${encodeURIComponent(f)}`);
      expectScimError(r, 400, "invalidFilter");
    }
  });
});

describe("SCIM: users through Entra's lifecycle", () => {
  it("creates (201 with id, meta, ETag, Location), refuses a duplicate userName in another case with 409 uniqueness, and stores the platform user", async () => {
    const { scim, tenantId } = await tenantWithToken();
    const externalId = randomUUID();
    const body = entraUser("grace@school.example", externalId, { [ENTERPRISE]: { employeeNumber: "701984", manager: "boss-id" } });
    const r = await scim("POST", "/Users", body);
    expect(r.status, r.text).toBe(201);
    expect(r.headers.get("content-type")).toMatch(SCIM_JSON);
    const id = r.body!.id as string;
    expect(r.headers.get("location")).toBe(`${served.url()}/api/scim/v2/${tenantId}/Users/${id}`);
    expect(r.headers.get("etag")).toMatch(/^W\/".+"$/);
    expect(r.body).toMatchObject({
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
      id,
      externalId,
      userName: "grace@school.example",
      active: true,
      name: { givenName: "Ada", familyName: "Lovelace", formatted: "Ada Lovelace" },
      emails: [{ primary: true, type: "work", value: "grace@school.example" }],
      roles: [],
      [ENTERPRISE]: { employeeNumber: "701984", manager: "boss-id" },
      meta: { resourceType: "User", location: r.headers.get("location"), version: r.headers.get("etag") },
    });
    expect(typeof (r.body!.meta as { created: string }).created).toBe("string");
    const platform = await stackOf().app.directory.get(tenantId, id);
    expect(platform).toMatchObject({ externalId, userName: "grace@school.example", email: "grace@school.example", firstName: "Ada", lastName: "Lovelace" });
    expect(platform?.inactiveAt).toBeUndefined();

    const dup = await scim("POST", "/Users", entraUser("GRACE@school.example", randomUUID()));
    expectScimError(dup, 409, "uniqueness");
    const dupExternal = await scim("POST", "/Users", entraUser("other@school.example", externalId));
    expectScimError(dupExternal, 409, "uniqueness");
  });

  it("lets one of two concurrent POSTs with the same externalId through (201) and answers the other 409 uniqueness", async () => {
    const { scim, tenantId } = await tenantWithToken();
    for (let round = 0; round < 3; round++) {
      const externalId = randomUUID();
      // Different userNames: only the externalId can stop the second; both pass the read before the write.
      const answers = await Promise.all([scim("POST", "/Users", entraUser(`twin-a${round}@school.example`, externalId)), scim("POST", "/Users", entraUser(`twin-b${round}@school.example`, externalId))]);
      expect(answers.map((a) => a.status).sort(), answers.map((a) => a.text).join("\n")).toEqual([201, 409]);
      expectScimError(answers.find((a) => a.status === 409)!, 409, "uniqueness");
      const same = (await stackOf().app.directory.findBy(tenantId, "externalId", [externalId])).get(externalId) ?? [];
      expect(same.map((u) => u.id)).toEqual([answers.find((a) => a.status === 201)!.body!.id]);
    }
  });

  it("applies Entra's default PATCH dialect: capitalised ops, \"False\" strings, one op per attribute, manager as a string", async () => {
    const { scim, tenantId } = await tenantWithToken();
    const created = await scim("POST", "/Users", entraUser("jyoung@school.example", randomUUID()));
    const id = created.body!.id as string;
    const r = await scim("PATCH", `/Users/${id}`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [
        { op: "Replace", path: "displayName", value: "Jo Young" },
        { op: "Replace", path: 'emails[type eq "work"].value', value: "jo.young@school.example" },
        { op: "Replace", path: "name.givenName", value: "Jo" },
        { op: "Add", path: `${ENTERPRISE}:employeeNumber`, value: "42" },
        { op: "Add", path: `${ENTERPRISE}:manager`, value: "mgr-1" },
        { op: "Add", path: "nickName", value: "Babs" },
      ],
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ id, displayName: "Jo Young", nickName: "Babs", name: { givenName: "Jo" }, emails: [{ type: "work", value: "jo.young@school.example" }], [ENTERPRISE]: { employeeNumber: "42", manager: { value: "mgr-1" } } });
    expect((r.body!.schemas as string[]).includes(ENTERPRISE)).toBe(true);

    const off = await scim("PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "active", value: "False" }] });
    expect(off.status, off.text).toBe(200);
    expect(off.body!.active).toBe(false);
    const platform = await stackOf().app.directory.get(tenantId, id);
    expect(platform).toMatchObject({ email: "jo.young@school.example", firstName: "Jo" });
    expect(typeof platform?.inactiveAt).toBe("string");
    // An inactive user is still found (Entra matches it, then reactivates it).
    const found = await scim("GET", `/Users?filter=${encodeURIComponent('userName eq "jyoung@school.example"')}`);
    expect(found.body!.totalResults).toBe(1);
    const on = await scim("PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "active", value: "True" }] });
    expect(on.body!.active).toBe(true);
    expect((await stackOf().app.directory.get(tenantId, id))?.inactiveAt).toBeUndefined();
  });

  it("applies the compliant dialect (?aadOptscim062020): lowercase ops, booleans, path-less replace with dotted and URN keys", async () => {
    const { scim, base, token } = await tenantWithToken();
    const created = await scim("POST", "/Users?aadOptscim062020", entraUser("sam@school.example", randomUUID()));
    const id = created.body!.id as string;
    const flagged = scimClient(`${base}`, token);
    const r = await flagged("PATCH", `/Users/${id}?aadOptscim062020`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [
        { op: "replace", path: 'emails[type eq "work"].value', value: "samuel@school.example" },
        { op: "replace", value: { displayName: "Samuel", "name.givenName": "Samuel", "name.familyName": "Stone", [`${ENTERPRISE}:employeeNumber`]: "9" } },
        { op: "replace", path: "active", value: false },
      ],
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ displayName: "Samuel", active: false, name: { givenName: "Samuel", familyName: "Stone" }, emails: [{ value: "samuel@school.example" }], [ENTERPRISE]: { employeeNumber: "9" } });
    expect(r.body).not.toHaveProperty(["name.givenName"]);
    const again = await scim("GET", `/Users/${id}`);
    expect(again.body).toEqual({ ...r.body });
  });

  it("honours If-Match with meta.version: a stale version gets 412, the current one applies", async () => {
    const { scim } = await tenantWithToken();
    const created = await scim("POST", "/Users", entraUser("etag@school.example", randomUUID()));
    const id = created.body!.id as string;
    const v1 = created.headers.get("etag")!;
    const patch = (value: string) => ({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "displayName", value }] });
    const first = await scim("PATCH", `/Users/${id}`, patch("One"), { "if-match": v1 });
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).not.toBe(v1);
    expectScimError(await scim("PATCH", `/Users/${id}`, patch("Two"), { "if-match": v1 }), 412);
    expect((await scim("GET", `/Users/${id}`)).body!.displayName).toBe("One");
  });

  it("replaces with PUT, deletes with 204 (the platform user is marked removed, not erased), then answers 404, and a new POST revives it", async () => {
    const { scim, tenantId } = await tenantWithToken();
    const externalId = randomUUID();
    const created = await scim("POST", "/Users", entraUser("put@school.example", externalId));
    const id = created.body!.id as string;
    const put = await scim("PUT", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "put@school.example", externalId, name: { givenName: "Pat" }, active: true });
    expect(put.status, put.text).toBe(200);
    expect(put.body).not.toHaveProperty("emails");
    expect(put.body!.name).toEqual({ givenName: "Pat" });

    const del = await scim("DELETE", `/Users/${id}`);
    expect(del.status).toBe(204);
    expect(del.text).toBe("");
    expectScimError(await scim("GET", `/Users/${id}`), 404);
    expect((await scim("GET", `/Users?filter=${encodeURIComponent(`externalId eq "${externalId}"`)}`)).body!.totalResults).toBe(0);
    const kept = await stackOf().app.directory.get(tenantId, id);
    expect(kept).toMatchObject({ userName: "put@school.example", entraRemovedReason: "deleted" });
    expectScimError(await scim("DELETE", `/Users/${id}`), 404);

    const back = await scim("POST", "/Users", entraUser("put@school.example", externalId));
    expect(back.status, back.text).toBe(201);
    expect(back.body!.id).toBe(id);
    expect((await stackOf().app.directory.get(tenantId, id))?.entraRemovedAt).toBeUndefined();
  });

  it("answers an unknown id with 404 and a SCIM error body, and accepts application/json", async () => {
    const { scim, base, token } = await tenantWithToken();
    expectScimError(await scim("GET", `/Users/${randomUUID()}`), 404);
    expectScimError(await scim("GET", "/Users/a%23b%3Fc"), 404);
    expectScimError(await scim("GET", "/Groups/a%23b"), 404);
    expectScimError(await scim("GET", "/Bulk"), 404);
    expectScimError(await scim("PATCH", `/Users/${randomUUID()}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "active", value: "False" }] }), 404);
    const plain = scimClient(base, token, { contentType: "application/json" });
    const r = await plain("POST", "/Users", entraUser("json@school.example", randomUUID()));
    expect(r.status).toBe(201);
    expect(r.headers.get("content-type")).toMatch(SCIM_JSON);
  });

  it("pages a listing with startIndex and count (1-based)", async () => {
    const { scim } = await tenantWithToken();
    for (let i = 0; i < 7; i++) expect((await scim("POST", "/Users", entraUser(`page${i}@school.example`, randomUUID()))).status).toBe(201);
    const p1 = (await scim("GET", "/Users?startIndex=1&count=5")).body as { totalResults: number; Resources: Array<{ id: string }>; startIndex: number; itemsPerPage: number };
    const p2 = (await scim("GET", "/Users?startIndex=6&count=5")).body as typeof p1;
    expect([p1.totalResults, p1.startIndex, p1.itemsPerPage, p1.Resources.length]).toEqual([7, 1, 5, 5]);
    expect([p2.totalResults, p2.startIndex, p2.itemsPerPage]).toEqual([7, 6, 2]);
    expect(new Set([...p1.Resources, ...p2.Resources].map((r) => r.id)).size).toBe(7);
    const none = (await scim("GET", "/Users?count=0")).body as typeof p1;
    expect([none.totalResults, none.Resources.length]).toEqual([7, 0]);
    expectScimError(await scim("GET", "/Users?count=many"), 400, "invalidValue");
  });
});

describe("SCIM: groups", () => {
  it("creates a group, finds it by displayName without members, adds and removes members in both dialects, answers PATCH with 204", async () => {
    const { scim } = await tenantWithToken();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await scim("POST", "/Users", entraUser(`member${i}@school.example`, randomUUID()))).body!.id as string);
    const g = await scim("POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"], externalId: "g-1", displayName: "EDU All personal", meta: { resourceType: "Group" }, members: [] });
    expect(g.status, g.text).toBe(201);
    const gid = g.body!.id as string;
    expectScimError(await scim("POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "edu all PERSONAL" }), 409, "uniqueness");

    const found = await scim("GET", `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "EDU All personal"')}`);
    expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id: gid, displayName: "EDU All personal", externalId: "g-1" }] });
    expect((found.body!.Resources as object[])[0]).not.toHaveProperty("members");

    const add = await scim("PATCH", `/Groups/${gid}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Add", path: "members", value: ids.map((value) => ({ value })) }] });
    expect(add.status, add.text).toBe(204);
    expect(add.text).toBe("");
    const memberIds = async () => (((await scim("GET", `/Groups/${gid}`)).body!.members as Array<{ value: string }>) ?? []).map((m) => m.value).sort();
    expect(await memberIds()).toEqual([...ids].sort());
    // Default dialect: remove by value, with $ref null as Microsoft's sample has it; the others stay.
    const rm = await scim("PATCH", `/Groups/${gid}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Remove", path: "members", value: [{ $ref: null, value: ids[0] }] }] });
    expect(rm.status).toBe(204);
    expect(await memberIds()).toEqual([ids[1], ids[2]].sort());
    // Compliant dialect: remove by a value filter.
    const rm2 = await scim("PATCH", `/Groups/${gid}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "remove", path: `members[value eq "${ids[1]}"]` }] });
    expect(rm2.status).toBe(204);
    expect(await memberIds()).toEqual([ids[2]]);
    const rename = await scim("PATCH", `/Groups/${gid}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "displayName", value: "Staff" }] });
    expect(rename.status).toBe(204);
    expect((await scim("GET", `/Groups/${gid}?excludedAttributes=members`)).body).toMatchObject({ displayName: "Staff" });
    expect((await scim("DELETE", `/Groups/${gid}`)).status).toBe(204);
    expectScimError(await scim("GET", `/Groups/${gid}`), 404);
  });
});

describe("SCIM: discovery", () => {
  it("serves /ServiceProviderConfig, /Schemas and /ResourceTypes", async () => {
    const { scim, base } = await tenantWithToken();
    const spc = await scim("GET", "/ServiceProviderConfig");
    expect(spc.status).toBe(200);
    expect(spc.body).toMatchObject({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"], patch: { supported: true }, bulk: { supported: false }, filter: { supported: true }, etag: { supported: true } });
    const schemas = await scim("GET", "/Schemas");
    expect(schemas.body).toMatchObject({ schemas: [LIST] });
    expect((schemas.body!.Resources as Array<{ id: string }>).map((s) => s.id)).toEqual(expect.arrayContaining(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE, "urn:ietf:params:scim:schemas:core:2.0:Group"]));
    expect(JSON.stringify(schemas.body)).not.toContain("null");
    const types = await scim("GET", "/ResourceTypes");
    expect((types.body!.Resources as Array<{ id: string; endpoint: string }>).map((t) => [t.id, t.endpoint])).toEqual([["User", "/Users"], ["Group", "/Groups"]]);
    expect((await scim("GET", "/ResourceTypes/User")).body).toMatchObject({ id: "User", meta: { location: `${base}/ResourceTypes/User` } });
  });
});

describe("SCIM: the token is the gate", () => {
  it("answers a missing, wrong, revoked or other tenant's token with the same 401 and no hint", async () => {
    const a = await tenantWithToken();
    const b = await tenantWithToken();
    const userOfB = (await b.scim("POST", "/Users", entraUser("b@school.example", randomUUID()))).body!.id as string;
    const answers = [
      await scimClient(a.base, "")("GET", "/Users"),
      await scimClient(a.base, "not-a-token")("GET", "/Users"),
      await scimClient(a.base, `${a.token.slice(0, -1)}x`)("GET", "/Users"),
      await scimClient(b.base, a.token)("GET", `/Users/${userOfB}`),
      await scimClient(b.base, a.token)("GET", "/Users"),
    ];
    for (const r of answers) {
      expectScimError(r, 401);
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
    expect(new Set(answers.map((r) => r.text)).size).toBe(1);
    // With its own tenant URL, a's token cannot reach b's user either.
    expectScimError(await a.scim("GET", `/Users/${userOfB}`), 404);
    await stackOf().app.scimTokens.revoke(a.tenantId, { all: true });
    expectScimError(await a.scim("GET", "/Users"), 401);
  });

  it("refuses a body over the cap (413), __proto__ / constructor keys and paths (400), and leaves Object.prototype alone", async () => {
    const { scim } = await tenantWithToken();
    expectScimError(await scim("POST", "/Users", entraUser("big@school.example", randomUUID(), { title: "x".repeat(300 * 1024) })), 413);
    expectScimError(await scim("POST", "/Users", `{"userName":"p@school.example","__proto__":{"polluted":true}}`), 400, "invalidValue");
    const id = (await scim("POST", "/Users", entraUser("proto@school.example", randomUUID()))).body!.id as string;
    for (const path of ["__proto__.polluted", "constructor.prototype.polluted", "name.__proto__"]) {
      const r = await scim("PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "add", path, value: "yes" }] });
      expectScimError(r, 400, "invalidPath");
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expectScimError(await scim("POST", "/Users", "{not json"), 400, "invalidSyntax");
    expectScimError(await scim("POST", "/Users", { userName: "" }), 400, "invalidValue");
    expectScimError(await scim("PATCH", `/Users/${id}`, { Operations: [{ op: "move", path: "x" }] }), 400, "invalidSyntax");
  });

  it("limits each token's rate: beyond the burst, 429 with Retry-After; another token keeps its own bucket", async () => {
    // The app's limiter (50/s, burst 100) over a clock that stands still, so the burst is all there is.
    const app = stackOf().app;
    const at = 1_000_000;
    const endpoint = new ScimEndpoint({ directory: app.directory, tokens: app.scimTokens, audit: app.scimAudit, groups: new ScimGroupStore(app.tables.scimGroups), limiter: new RateLimiter(50, 100, () => at), clock: app.clock, log: silentLogger });
    const a = await tenantWithToken();
    const b = await tenantWithToken();
    const call = (t: { tenantId: string; token: string; base: string }) =>
      endpoint.handle({ method: "GET", url: `${t.base}/ServiceProviderConfig`, tenantId: t.tenantId, resource: "ServiceProviderConfig", header: (n) => (n === "authorization" ? `Bearer ${t.token}` : null), body: "" });
    const answers = [];
    for (let i = 0; i < 101; i++) answers.push(await call(a));
    expect(answers.slice(0, 100).every((r) => r.status === 200)).toBe(true);
    const limited = answers[100]!;
    expect(limited.status).toBe(429);
    expect(limited.headers["Retry-After"]).toBe("1");
    expect(limited.headers["Content-Type"]).toMatch(SCIM_JSON);
    expect(limited.body).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "429" });
    expect((await call(b)).status).toBe(200);
  });

  it("records every write with the tenant, the token id, the operation and the attributes changed (never values)", async () => {
    const { scim, tenantId, tokenId } = await tenantWithToken();
    const id = (await scim("POST", "/Users", entraUser("audit@school.example", randomUUID()))).body!.id as string;
    await scim("PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "name.givenName", value: "Secretive" }] });
    await scim("PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "active", value: "False" }] });
    await scim("DELETE", `/Users/${id}`);
    const log = await stackOf().app.scimAudit.list(tenantId);
    expect(log.map((e) => e.operation)).toEqual(["delete", "deactivate", "update", "create"]);
    expect(log.every((e) => e.tokenId === tokenId && e.resourceId === id && e.tenantId === tenantId)).toBe(true);
    expect(log[2]!.attributes).toEqual(["name.givenName"]);
    expect(JSON.stringify(log)).not.toContain("Secretive");
  });
});
