import { BatchRequestContent, BatchResponseContent, RetryHandlerOptions } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../../dev/simulator/index.js";
import { setupTenant, simFetch, tokenFor } from "./helpers.js";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.stop();
});

const noRetry = () => [new RetryHandlerOptions(0, 0)];

function school() {
  const ctx = setupTenant(sim, ["User.ReadWrite.All"], { displayName: "Patch School", federatedDomains: ["fed.school.edu"], managedDomains: ["school.edu"] });
  const d = ctx.tenant.initialDomain;
  const [plain, synced, fed, priv, taken] = sim.control.addUsers(ctx.tenant.id, [
    { userPrincipalName: `plain@${d}` },
    { userPrincipalName: `synced@school.edu`, onPremisesSyncEnabled: true, onPremisesImmutableId: "SYNCED1" },
    { userPrincipalName: `fed@fed.school.edu` },
    { userPrincipalName: `admin@${d}`, privileged: true },
    { userPrincipalName: `taken@${d}`, onPremisesImmutableId: "TAKEN-1" },
  ]);
  return { ...ctx, plain: plain!, synced: synced!, fed: fed!, priv: priv!, taken: taken! };
}

describe("PATCH /users/{id}", () => {
  it("sets an ImmutableId (204) and delta sees exactly that property", async () => {
    const s = school();
    const before = (await s.graph.api("/users/delta?$select=id,onPremisesImmutableId,givenName").get()) as { "@odata.deltaLink": string };
    await s.graph.api(`/users/${s.plain.id}`).patch({ onPremisesImmutableId: "aGVsbG8=" });
    expect(sim.control.getUser(s.tenant.id, s.plain.id)?.onPremisesImmutableId).toBe("aGVsbG8=");
    const after = (await s.graph.api(before["@odata.deltaLink"]).header("Prefer", "return=minimal").get()) as { value: unknown[] };
    expect(after.value).toEqual([{ id: s.plain.id, onPremisesImmutableId: "aGVsbG8=" }]);
    expect(sim.control.stats().writes).toBeGreaterThanOrEqual(1);
  });

  it("refuses each forbidden ImmutableId write with Graph's error", async () => {
    const s = school();
    const patch = (id: string, body: unknown) => s.graph.api(`/users/${id}`).middlewareOptions(noRetry()).patch(body);
    await expect(patch(s.synced.id, { onPremisesImmutableId: "X1" })).rejects.toMatchObject({
      statusCode: 400,
      code: "Request_BadRequest",
      message: expect.stringMatching(/on-premises mastered Directory Sync objects/),
    });
    for (const bad of ["a$b", "a_b", "x".repeat(60), ""]) {
      await expect(patch(s.plain.id, { onPremisesImmutableId: bad })).rejects.toMatchObject({
        statusCode: 400,
        message: "Invalid value specified for property 'onPremisesImmutableId' of resource 'User'.",
      });
    }
    const conflict = await patch(s.plain.id, { onPremisesImmutableId: "TAKEN-1" }).then(() => undefined, (e: { statusCode: number; body: string }) => e);
    expect(conflict?.statusCode).toBe(400);
    expect(JSON.parse(conflict!.body).details).toEqual([
      { code: "ObjectConflict", target: "onPremisesImmutableId", message: "Another object with the same value for property onPremisesImmutableId already exists." },
    ]);
    // case-sensitive uniqueness
    await patch(s.plain.id, { onPremisesImmutableId: "taken-1" });
    await expect(patch(s.fed.id, { onPremisesImmutableId: "FED1" })).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/federated/) });
    await expect(patch(s.priv.id, { onPremisesImmutableId: "PRIV1" })).rejects.toMatchObject({ statusCode: 403, code: "Authorization_RequestDenied" });
  });

  it("federated user: move the UPN to a managed domain, then set the ImmutableId and restore the UPN", async () => {
    const s = school();
    const patch = (body: unknown) => s.graph.api(`/users/${s.fed.id}`).patch(body);
    await patch({ userPrincipalName: `fed@${s.tenant.initialDomain}` });
    await patch({ onPremisesImmutableId: "FED-OK", userPrincipalName: "fed@fed.school.edu" });
    expect(sim.control.getUser(s.tenant.id, s.fed.id)).toMatchObject({ onPremisesImmutableId: "FED-OK", userPrincipalName: "fed@fed.school.edu" });
  });

  it("moves a user into a federated domain only with an ImmutableId, held already or set in the same PATCH", async () => {
    const s = school();
    const patch = (body: unknown) => s.graph.api(`/users/${s.fed.id}`).middlewareOptions(noRetry()).patch(body);
    await patch({ userPrincipalName: `fed@${s.tenant.initialDomain}` });
    const refused = await patch({ userPrincipalName: "fed@fed.school.edu" }).then(() => undefined, (e: { statusCode: number; body: string }) => e);
    expect(refused?.statusCode).toBe(400);
    expect(JSON.parse(refused!.body)).toMatchObject({ code: "Request_BadRequest", message: "One or more properties contains invalid values." });
    expect(JSON.parse(refused!.body).details).toBeUndefined();
    await expect(patch({ userPrincipalName: "fed@fed.school.edu", onPremisesImmutableId: null })).rejects.toMatchObject({ statusCode: 400 });
    expect(sim.control.getUser(s.tenant.id, s.fed.id)?.userPrincipalName).toBe(`fed@${s.tenant.initialDomain}`);
    // a user that has one moves freely; a managed domain needs none
    sim.control.updateUser(s.tenant.id, s.plain.id, { onPremisesImmutableId: "PLAIN-1" });
    await s.graph.api(`/users/${s.plain.id}`).patch({ userPrincipalName: "plain@fed.school.edu" });
    await patch({ userPrincipalName: "fed@school.edu" });
    expect(sim.control.getUser(s.tenant.id, s.plain.id)?.userPrincipalName).toBe("plain@fed.school.edu");
  });

  it("checks UPN domain and uniqueness, and the write role", async () => {
    const s = school();
    const patch = (body: unknown) => s.graph.api(`/users/${s.plain.id}`).middlewareOptions(noRetry()).patch(body);
    await expect(patch({ userPrincipalName: "plain@elsewhere.com" })).rejects.toMatchObject({ statusCode: 400 });
    await expect(patch({ userPrincipalName: `TAKEN@${s.tenant.initialDomain}` })).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/userPrincipalName already exists/) });
    const reader = setupTenant(sim, ["User.Read.All"]);
    const [u] = sim.control.addUsers(reader.tenant.id, [{ userPrincipalName: `r@${reader.tenant.initialDomain}` }]);
    await expect(reader.graph.api(`/users/${u!.id}`).patch({ onPremisesImmutableId: "R1" })).rejects.toMatchObject({
      statusCode: 403,
      code: "Authorization_RequestDenied",
      message: "Insufficient privileges to complete the operation.",
    });
  });

  it("gainImmutableIdBeforeNextRead: another admin acts between plan and write", async () => {
    const s = school();
    sim.control.gainImmutableIdBeforeNextRead(s.tenant.id, s.plain.id, "OTHER-ADMIN");
    expect(sim.control.getUser(s.tenant.id, s.plain.id)?.onPremisesImmutableId).toBeNull();
    const u = (await s.graph.api(`/users/${s.plain.id}`).select("id,onPremisesImmutableId").get()) as Record<string, unknown>;
    expect(u["onPremisesImmutableId"]).toBe("OTHER-ADMIN");
  });
});

describe("$batch", () => {
  it("runs inner requests (relative, /v1.0 and absolute URLs), dependsOn, 424 and an inner 429", async () => {
    const s = school();
    sim.control.injectFault({ method: "GET", path: `/users/${s.taken.id}`, status: 429, headers: { "Retry-After": "7" } });
    const body = {
      requests: [
        { id: "1", method: "GET", url: `/users/${s.plain.id}?$select=id,userPrincipalName` },
        { id: "2", method: "GET", url: `/v1.0/users/${s.taken.id}` },
        { id: "3", method: "PATCH", url: `${sim.graphBaseUrl}/v1.0/users/${s.plain.id}`, headers: { "Content-Type": "application/json" }, body: { onPremisesImmutableId: "BATCH1" } },
        { id: "4", method: "PATCH", url: `/users/${s.synced.id}`, headers: { "Content-Type": "application/json" }, body: { onPremisesImmutableId: "BATCH2" } },
        { id: "5", method: "GET", url: `/users/${s.synced.id}`, dependsOn: ["4"] },
        { id: "6", method: "GET", url: `/users/${s.plain.id}?$select=onPremisesImmutableId`, dependsOn: ["3"] },
      ],
    };
    const res = (await s.graph.api("/$batch").post(body)) as { responses: Array<{ id: string; status: number; headers: Record<string, string>; body?: Record<string, unknown> }> };
    const by = new Map(res.responses.map((r) => [r.id, r]));
    expect(by.get("1")?.status).toBe(200);
    expect(by.get("2")?.status).toBe(429);
    expect(by.get("2")?.headers["Retry-After"]).toBe("7");
    expect(by.get("3")?.status).toBe(204);
    expect(by.get("4")?.status).toBe(400);
    expect(by.get("5")?.status).toBe(424);
    expect(by.get("6")?.body?.["onPremisesImmutableId"]).toBe("BATCH1");
    const log = sim.control.requestLog();
    expect(log.filter((e) => e.inBatch)).toHaveLength(5);
  });

  it("works with the SDK's BatchRequestContent (absolute Request URLs)", async () => {
    const s = school();
    const content = new BatchRequestContent([
      { id: "a", request: new Request(`${sim.graphBaseUrl}/v1.0/users/${s.plain.id}?$select=id,userPrincipalName`, { method: "GET" }) },
      {
        id: "b",
        request: new Request(`${sim.graphBaseUrl}/v1.0/users/${s.fed.id}`, {
          method: "PATCH",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ city: "Bergen" }),
        }),
      },
    ]);
    const raw = (await s.graph.api("/$batch").post(await content.getContent())) as object;
    const res = new BatchResponseContent(raw as ConstructorParameters<typeof BatchResponseContent>[0]);
    expect(res.getResponseById("a").status).toBe(200);
    expect(res.getResponseById("b").status).toBe(204);
    expect(sim.control.getUser(s.tenant.id, s.fed.id)?.city).toBe("Bergen");
  });

  it("refuses more than 20 requests", async () => {
    const s = school();
    const requests = Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: "GET", url: `/users/${s.plain.id}` }));
    const res = await simFetch(sim, "/v1.0/$batch", { method: "POST", token: await tokenFor(s.cred), headers: { "content-type": "application/json" }, body: JSON.stringify({ requests }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("BadRequest");
  });
});
