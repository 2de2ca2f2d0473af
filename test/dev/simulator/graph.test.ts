import { RetryHandlerOptions, type Client } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../../dev/simulator/index.js";
import type { SimUserInput } from "../../../dev/simulator/types.js";
import { setupTenant, simFetch, tokenFor } from "./helpers.js";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ pageSize: 10 });
});
afterAll(async () => {
  await sim.stop();
});

type Page = { value: Array<Record<string, unknown>>; "@odata.nextLink"?: string; "@odata.deltaLink"?: string; "@odata.context"?: string };

const noRetry = () => [new RetryHandlerOptions(0, 0)];

async function round(graph: Client, start: string, minimal = false): Promise<{ items: Array<Record<string, unknown>>; deltaLink: string; pages: number }> {
  let url = start;
  const items: Array<Record<string, unknown>> = [];
  let pages = 0;
  for (;;) {
    let req = graph.api(url);
    if (minimal) req = req.header("Prefer", "return=minimal");
    const page = (await req.get()) as Page;
    pages++;
    expect(page["@odata.context"]).toBeTruthy();
    items.push(...page.value);
    if (page["@odata.nextLink"]) {
      expect(new URL(page["@odata.nextLink"]).origin).toBe(sim.baseUrl);
      url = page["@odata.nextLink"];
      continue;
    }
    expect(page["@odata.deltaLink"]).toBeTruthy();
    return { items, deltaLink: page["@odata.deltaLink"]!, pages };
  }
}

function users(n: number, domain: string, extra: Partial<SimUserInput> = {}): SimUserInput[] {
  return Array.from({ length: n }, (_, i) => ({ userPrincipalName: `u${i}@${domain}`, givenName: `G${i}`, surname: `S${i}`, mail: `u${i}@${domain}`, ...extra }));
}

const SELECT = "/users/delta?$select=id,userPrincipalName,givenName,surname,mail,onPremisesImmutableId,onPremisesExtensionAttributes";

describe("users/delta", () => {
  it("pages an initial round, then a minimal incremental round with @removed", async () => {
    const { tenant, graph } = setupTenant(sim, ["User.Read.All"]);
    const added = sim.control.addUsers(tenant.id, users(25, tenant.initialDomain));
    const first = await round(graph, SELECT);
    expect(first.pages).toBe(3);
    expect(first.items).toHaveLength(25);
    expect(Object.keys(first.items[0]!).sort()).toEqual(["givenName", "id", "mail", "onPremisesExtensionAttributes", "onPremisesImmutableId", "surname", "userPrincipalName"]);

    const [a, b, c, d] = added;
    sim.control.updateUser(tenant.id, a!.id, { givenName: "Changed" });
    sim.control.updateUser(tenant.id, b!.id, { mail: null });
    sim.control.updateUser(tenant.id, b!.id, { city: "Oslo" }); // not selected: invisible
    sim.control.softDeleteUser(tenant.id, c!.id);
    sim.control.hardDeleteUser(tenant.id, d!.id);
    const second = await round(graph, first.deltaLink, true);
    const byId = new Map(second.items.map((x) => [x["id"], x]));
    expect(second.items).toHaveLength(4);
    expect(byId.get(a!.id)).toEqual({ id: a!.id, givenName: "Changed" });
    expect(byId.get(b!.id)).toEqual({ id: b!.id, mail: null });
    expect(byId.get(c!.id)).toEqual({ id: c!.id, "@removed": { reason: "changed" } });
    expect(byId.get(d!.id)).toEqual({ id: d!.id, "@removed": { reason: "deleted" } });

    // restore comes back as a full object; non-minimal answers carry all selected properties
    sim.control.restoreUser(tenant.id, c!.id);
    sim.control.updateUser(tenant.id, added[5]!.id, { surname: "New" });
    const third = await round(graph, second.deltaLink);
    expect(third.items).toHaveLength(2);
    for (const x of third.items) expect(Object.keys(x)).toHaveLength(7);

    const empty = await round(graph, third.deltaLink, true);
    expect(empty.items).toHaveLength(0);
  });

  it("answers Preference-Applied and $deltatoken=latest", async () => {
    const { tenant, graph, cred } = setupTenant(sim, ["User.Read.All"]);
    sim.control.addUsers(tenant.id, users(5, tenant.initialDomain));
    const res = await simFetch(sim, "/v1.0/users/delta?$deltatoken=latest&$select=id,mail", { token: await tokenFor(cred), headers: { prefer: "return=minimal" } });
    expect(res.headers.get("preference-applied")).toBe("return=minimal");
    for (const h of ["request-id", "client-request-id", "x-ms-resource-unit"]) expect(res.headers.get(h)).toBeTruthy();
    const page = (await res.json()) as Page;
    expect(page.value).toEqual([]);
    sim.control.addUsers(tenant.id, [{ userPrincipalName: `late@${tenant.initialDomain}`, mail: "late@x.org" }]);
    const next = await round(graph, page["@odata.deltaLink"]!);
    expect(next.items).toEqual([{ id: expect.any(String), mail: "late@x.org" }]);
  });

  it("expired tokens: 410 Gone with Location, or 400 syncStateNotFound", async () => {
    const { tenant, graph } = setupTenant(sim, ["User.Read.All"]);
    sim.control.addUsers(tenant.id, users(3, tenant.initialDomain));
    const first = await round(graph, SELECT);
    sim.control.advanceClock(8 * 24 * 3600 * 1000);
    try {
      const err = await graph.api(first.deltaLink).middlewareOptions(noRetry()).get().then(() => undefined, (e: { statusCode: number; code: string; headers?: Headers }) => e);
      expect(err?.statusCode).toBe(410);
      expect(err?.code).toBe("resyncRequired");
      expect(err?.headers?.get("location")).toMatch(/\/v1\.0\/users\/delta\?\$select=/);
    } finally {
      sim.control.advanceClock(-8 * 24 * 3600 * 1000);
    }
    const again = await round(graph, SELECT);
    sim.control.expireDeltaTokens(tenant.id, "syncStateNotFound");
    await expect(graph.api(again.deltaLink).get()).rejects.toMatchObject({ statusCode: 400, code: "syncStateNotFound" });
    sim.control.expireDeltaTokens(tenant.id, "gone");
    await expect(graph.api(again.deltaLink).middlewareOptions(noRetry()).get()).rejects.toMatchObject({ statusCode: 410 });
    // a fresh round works
    expect((await round(graph, SELECT)).items).toHaveLength(3);
  });

  it("refuses birthday, unknown properties and $top in delta; serves birthday per user", async () => {
    const { tenant, graph } = setupTenant(sim, ["User.Read.All"]);
    const [u] = sim.control.addUsers(tenant.id, [{ userPrincipalName: `b@${tenant.initialDomain}`, birthday: "2010-05-01T00:00:00Z" }]);
    await expect(graph.api("/users/delta?$select=id,birthday").get()).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });
    await expect(graph.api("/users/delta?$select=id,shoeSize").get()).rejects.toMatchObject({ statusCode: 400, code: "Request_BadRequest" });
    await expect(graph.api("/users/delta?$top=5").get()).rejects.toMatchObject({ statusCode: 400 });
    const one = (await graph.api(`/users/${u!.id}`).select("id,birthday").get()) as Record<string, unknown>;
    expect(one["birthday"]).toBe("2010-05-01T00:00:00Z");
    await expect(graph.api("/users/00000000-0000-0000-0000-000000000000").get()).rejects.toMatchObject({ statusCode: 404, code: "Request_ResourceNotFound" });
  });

  it("refuses a delta token issued for another tenant", async () => {
    const a = setupTenant(sim, ["User.Read.All"]);
    const b = setupTenant(sim, ["User.Read.All"]);
    const first = await round(a.graph, SELECT);
    const foreign = first.deltaLink; // same host: only the token says which tenant it belongs to
    await expect(b.graph.api(foreign).get()).rejects.toMatchObject({ statusCode: 400 });
  });

  it("can repeat users and send empty pages", async () => {
    const { tenant, graph } = setupTenant(sim, ["User.Read.All"]);
    sim.control.addUsers(tenant.id, users(40, tenant.initialDomain));
    sim.control.setDuplicateRate(0.3);
    sim.control.setEmptyPageRate(0.3);
    try {
      const r = await round(graph, SELECT);
      expect(new Set(r.items.map((x) => x["id"])).size).toBe(40);
      expect(r.items.length).toBeGreaterThan(40);
    } finally {
      sim.control.setDuplicateRate(0);
      sim.control.setEmptyPageRate(0);
    }
  });
});

describe("users list, applications, domains, consent", () => {
  it("lists with $filter and $top paging", async () => {
    const { tenant, graph } = setupTenant(sim, ["User.Read.All"]);
    sim.control.addUsers(tenant.id, users(7, tenant.initialDomain));
    sim.control.addUsers(tenant.id, [{ userPrincipalName: `imm@${tenant.initialDomain}`, onPremisesImmutableId: "ABC123" }]);
    const f = (await graph.api("/users").filter("onPremisesImmutableId eq 'ABC123'").select("id,userPrincipalName").get()) as Page;
    expect(f.value.map((x) => x["userPrincipalName"])).toEqual([`imm@${tenant.initialDomain}`]);
    const p1 = (await graph.api("/users").top(5).get()) as Page;
    expect(p1.value).toHaveLength(5);
    const p2 = (await graph.api(p1["@odata.nextLink"]!).get()) as Page;
    expect(p2.value).toHaveLength(3);
    expect(p2["@odata.nextLink"]).toBeUndefined();
  });

  it("serves passwordCredentials and domains; 403 without the role or without consent", async () => {
    const { tenant, app, secret, graph } = setupTenant(sim, ["User.Read.All", "Domain.Read.All", "Application.Read.All"], {
      displayName: "Fed School",
      federatedDomains: ["fed.example.edu"],
    });
    const a = (await graph.api(`/applications(appId='${app.clientId}')`).select("passwordCredentials").get()) as { passwordCredentials: Array<Record<string, unknown>> };
    expect(a.passwordCredentials).toEqual([
      { customKeyIdentifier: null, displayName: null, endDateTime: secret.endDateTime, hint: secret.value.slice(0, 3), keyId: secret.keyId, secretText: null, startDateTime: expect.any(String) },
    ]);
    const byFilter = (await graph.api("/applications").filter(`appId eq '${app.clientId}'`).get()) as Page;
    expect(byFilter.value).toHaveLength(1);
    const d = (await graph.api("/domains").get()) as Page;
    expect(d.value.find((x) => x["id"] === "fed.example.edu")).toMatchObject({ authenticationType: "Federated", isVerified: true });

    const other = setupTenant(sim, ["User.Read.All"]);
    await expect(other.graph.api(`/applications(appId='${other.app.clientId}')`).get()).rejects.toMatchObject({ statusCode: 403, code: "Authorization_RequestDenied" });
    const none = setupTenant(sim, []);
    await expect(none.graph.api("/users").get()).rejects.toMatchObject({ statusCode: 403, code: "Authorization_RequestDenied" });
    void tenant;
  });

  it("401 InvalidAuthenticationToken without a token", async () => {
    const res = await simFetch(sim, "/v1.0/users");
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; innerError: Record<string, string> } };
    expect(body.error.code).toBe("InvalidAuthenticationToken");
    expect(body.error.innerError["request-id"]).toBeTruthy();
    expect(sim.control.requestLog().at(-1)).toMatchObject({ authorization: false, status: 401 });
  });
});
