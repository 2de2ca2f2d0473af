import { RetryHandlerOptions } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../../dev/simulator/index.js";
import { setupTenant, simFetch, tokenFor } from "./helpers.js";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ throttle: false });
});
afterAll(async () => {
  await sim.stop();
});

const noRetry = () => [new RetryHandlerOptions(0, 0)];

describe("throttling", () => {
  it("reads: 429 TooManyRequests with Retry-After and scope once the budget is spent", async () => {
    const s = setupTenant(sim, ["User.ReadWrite.All"]);
    const [u] = sim.control.addUsers(s.tenant.id, [{ userPrincipalName: `t@${s.tenant.initialDomain}` }]);
    sim.control.setThrottle({ readUnitsPer10s: 5 });
    try {
      const token = await tokenFor(s.cred);
      // The bucket holds 5 units and refills one per 2 s (real time): the first five pass, then — however slow this
      // machine is — a 429 comes once requests outrun the refill.
      const statuses: number[] = [];
      let last: Response | undefined;
      let beforeThrottle: Response | undefined;
      for (let i = 0; i < 20 && last?.status !== 429; i++) {
        if (last) beforeThrottle = last;
        last = await simFetch(sim, `/v1.0/users/${u!.id}`, { token });
        statuses.push(last.status);
      }
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(statuses.at(-1)).toBe(429);
      expect(Number(beforeThrottle!.headers.get("x-ms-throttle-limit-percentage"))).toBeGreaterThanOrEqual(0.8);
      expect(Number(last!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(last!.headers.get("x-ms-throttle-scope")).toBe(`Tenant_Application/ReadWrite/${s.tenant.id}/${s.app.clientId}`);
      expect(((await last!.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "TooManyRequests", message: "Too many requests" });
      // GET /users costs 2 (1 with $select)
      sim.control.setThrottle({ readUnitsPer10s: 1000 });
      const list = await simFetch(sim, "/v1.0/users", { token });
      expect(list.headers.get("x-ms-resource-unit")).toBe("2");
      const sel = await simFetch(sim, "/v1.0/users?$select=id", { token });
      expect(sel.headers.get("x-ms-resource-unit")).toBe("1");
      expect(sim.control.stats().throttled).toBeGreaterThanOrEqual(1);
    } finally {
      sim.control.setThrottle(false);
    }
  });

  it("writes and $batch: inner requests are throttled one by one", async () => {
    const s = setupTenant(sim, ["User.ReadWrite.All"]);
    const created = sim.control.addUsers(
      s.tenant.id,
      Array.from({ length: 5 }, (_, i) => ({ userPrincipalName: `w${i}@${s.tenant.initialDomain}` })),
    );
    sim.control.setThrottle({ writesPer150s: 2 });
    try {
      const requests = created.map((u, i) => ({ id: String(i), method: "PATCH", url: `/users/${u.id}`, headers: { "content-type": "application/json" }, body: { onPremisesImmutableId: `W${i}` } }));
      const res = (await s.graph.api("/$batch").post({ requests })) as { responses: Array<{ status: number; headers: Record<string, string> }> };
      const statuses = res.responses.map((r) => r.status).sort();
      expect(statuses).toEqual([204, 204, 429, 429, 429]);
      const throttled = res.responses.find((r) => r.status === 429)!;
      expect(Number(throttled.headers["Retry-After"])).toBeGreaterThanOrEqual(1);
      await expect(s.graph.api(`/users/${created[0]!.id}`).middlewareOptions(noRetry()).patch({ city: "x" })).rejects.toMatchObject({ statusCode: 429 });
    } finally {
      sim.control.setThrottle(false);
    }
  });

  it("windowScale shortens the wait at the same rate", async () => {
    const s = setupTenant(sim, ["User.Read.All"]);
    sim.control.setThrottle({ readUnitsPer10s: 20, windowScale: 0.1 }); // 2 units per second
    try {
      const token = await tokenFor(s.cred);
      const statuses: number[] = [];
      for (let i = 0; i < 20 && statuses.at(-1) !== 429; i++) statuses.push((await simFetch(sim, "/v1.0/users?$select=id", { token })).status);
      expect(statuses.slice(0, 2)).toEqual([200, 200]);
      expect(statuses.at(-1)).toBe(429);
      await new Promise((r) => setTimeout(r, 550));
      expect((await simFetch(sim, "/v1.0/users?$select=id", { token })).status).toBe(200);
    } finally {
      sim.control.setThrottle(false);
    }
  });
});

describe("faults", () => {
  it("injected status, connection reset, and seeded random faults", async () => {
    const s = setupTenant(sim, ["User.Read.All"]);
    const token = await tokenFor(s.cred);
    sim.control.injectFault({ path: "/v1.0/users", tenantId: s.tenant.id, status: 503, count: 2 });
    expect((await simFetch(sim, "/v1.0/users", { token })).status).toBe(503);
    expect((await simFetch(sim, "/v1.0/users", { token })).status).toBe(503);
    expect((await simFetch(sim, "/v1.0/users", { token })).status).toBe(200);
    sim.control.injectFault({ path: "^/v1\\.0/domains$", resetConnection: true, status: 0 });
    await expect(simFetch(sim, "/v1.0/domains", { token })).rejects.toThrow();
    sim.control.setRandomFaults({ rate429: 1, seed: 7 });
    try {
      const r = await simFetch(sim, "/v1.0/users", { token });
      expect(r.status).toBe(429);
      expect(r.headers.get("retry-after")).toBe("1");
    } finally {
      sim.control.setRandomFaults({});
    }
    sim.control.injectFault({ method: "POST", path: "/oauth2/v2.0/token", status: 500, body: { error: "server_error" } });
    const tok = await simFetch(sim, `/${s.tenant.id}/oauth2/v2.0/token`, { method: "POST", body: "" });
    expect(tok.status).toBe(500);
  });

  it("latency is added to responses", async () => {
    sim.control.setLatency(120);
    try {
      const t0 = Date.now();
      await simFetch(sim, `/${sim.vaultIdentity.tenantId}/discovery/v2.0/keys`);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    } finally {
      sim.control.setLatency(0);
    }
  });
});

describe("HTTP control API", () => {
  it("exposes every control method as POST /_control/<name>", async () => {
    const call = async (name: string, ...args: unknown[]) => {
      const res = await simFetch(sim, `/_control/${name}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ args }) });
      return { status: res.status, body: (await res.json()) as { result?: unknown; error?: string } };
    };
    const t = (await call("createTenant", { displayName: "Remote School" })).body.result as { id: string; initialDomain: string };
    expect(t.initialDomain).toBe("remoteschool.onmicrosoft.com");
    const app = (await call("createApp", t.id, { roles: ["User.Read.All"] })).body.result as { clientId: string };
    const secret = (await call("addSecret", t.id, app.clientId, { endDateTime: "2030-01-01T00:00:00Z" })).body.result as { value: string; hint: string; endDateTime: string };
    expect(secret.value).toMatch(/^[A-Za-z0-9~._-]{40}$/);
    expect(secret.hint).toBe(secret.value.slice(0, 3));
    expect(secret.endDateTime).toBe("2030-01-01T00:00:00.000Z");
    const users = (await call("addUsers", t.id, [{ userPrincipalName: `x@${t.initialDomain}` }])).body.result as Array<{ id: string; otherMails: unknown[] }>;
    expect(users[0]!.otherMails).toEqual([]);
    expect((await call("listUsers", t.id)).body.result).toHaveLength(1);
    expect((await call("stats")).body.result).toMatchObject({ requests: expect.any(Number), writes: expect.any(Number) });
    expect((await call("getUser", t.id, "nope")).body.result).toBeNull();
    const bad = await call("softDeleteUser", t.id, "nope");
    expect(bad.status).toBe(400);
    expect((await call("noSuchMethod")).status).toBe(404);
  });
});

describe("scale", () => {
  it("takes 100,000 users quickly and pages them", async () => {
    const s = setupTenant(sim, ["User.Read.All"]);
    const d = s.tenant.initialDomain;
    const input = Array.from({ length: 100_000 }, (_, i) => ({ userPrincipalName: `user${i}@${d}`, givenName: `G${i}`, onPremisesImmutableId: i % 2 ? `IMM${i}` : null }));
    sim.control.addUsers(s.tenant.id, input); // its speed is measured by npm run bench, never asserted
    const first = (await s.graph.api("/users/delta?$select=id,givenName").get()) as { value: unknown[]; "@odata.nextLink": string };
    expect(first.value).toHaveLength(200);
    const hit = (await s.graph.api("/users").filter("onPremisesImmutableId eq 'IMM99999'").get()) as { value: unknown[] };
    expect(hit.value).toHaveLength(1);
    const latest = (await s.graph.api("/users/delta?$deltatoken=latest&$select=id,givenName").get()) as { "@odata.deltaLink": string };
    const some = sim.control.listUsers(s.tenant.id).slice(50_000, 50_003);
    for (const u of some) sim.control.updateUser(s.tenant.id, u.id, { givenName: "changed" });
    const inc = (await s.graph.api(latest["@odata.deltaLink"]).get()) as { value: unknown[]; "@odata.deltaLink"?: string };
    expect(inc.value).toHaveLength(3);
    expect(inc["@odata.deltaLink"]).toBeTruthy();
  });
});
