/**
 * The simulator grants each Graph call entra-sync makes only to the application permissions Microsoft's Graph v1.0
 * API reference lists for it (the "Permissions" table of each method's page: least privileged, then higher). The
 * expectations below are written from those pages, not from the simulator's own table.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../../dev/simulator/index.js";
import { credential, simFetch, tokenFor } from "./helpers.js";

let sim: Simulator;
const tokens = new Map<string, string>();
const userFor = new Map<string, string>();

/** Permissions probed one at a time ("" = an app without admin consent: no roles at all). */
const PROBED = [
  "",
  "User.Read.All",
  "User.ReadWrite.All",
  "Directory.Read.All",
  "Directory.ReadWrite.All",
  "Domain.Read.All",
  "Domain.ReadWrite.All",
  "Application.Read.All",
  "Application.ReadWrite.All",
  "Application.ReadWrite.OwnedBy",
  "User-Mail.ReadWrite.All",
  "User.EnableDisableAccount.All",
];

/** From Microsoft's reference: the application permissions that grant each call. */
const GRANTED_BY: Record<string, string[]> = {
  // user: delta
  delta: ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
  // Get user (birthday is served only here)
  getUser: ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
  // Update user: onPremisesImmutableId, userPrincipalName
  patchImmutableId: ["User.ReadWrite.All", "Directory.ReadWrite.All"],
  patchUpn: ["User.ReadWrite.All", "Directory.ReadWrite.All"],
  // List domains
  domains: ["Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All"],
  // Get application (by appId)
  application: ["Application.Read.All", "Application.ReadWrite.All"],
};

beforeAll(async () => {
  sim = await startSimulator({ throttle: false });
  const t = sim.control.createTenant({ displayName: "Permission School", initialDomain: "perm.onmicrosoft.com", federatedDomains: ["perm.example"] });
  for (const role of PROBED) {
    const app = sim.control.createApp(t.id, { roles: role ? [role] : [] });
    const secret = sim.control.addSecret(t.id, app.clientId, { endDateTime: new Date(Date.now() + 86_400_000) });
    tokens.set(role, await tokenFor(credential(sim, t.id, app.clientId, secret.value)));
    const id = randomUUID();
    sim.control.addUsers(t.id, [{ id, userPrincipalName: `u-${id.slice(0, 8)}@perm.onmicrosoft.com`, birthday: "2010-05-01T00:00:00Z" }]);
    userFor.set(role, id);
  }
}, 60_000);
afterAll(async () => {
  await sim.stop();
});

const call = (role: string, what: string): { method: string; url: string; body?: unknown } => {
  const id = userFor.get(role)!;
  switch (what) {
    case "delta":
      return { method: "GET", url: "/users/delta?$select=id,userPrincipalName" };
    case "getUser":
      return { method: "GET", url: `/users/${id}?$select=id,birthday` };
    case "patchImmutableId":
      return { method: "PATCH", url: `/users/${id}`, body: { onPremisesImmutableId: Buffer.from(id).toString("base64") } };
    case "patchUpn":
      return { method: "PATCH", url: `/users/${id}`, body: { userPrincipalName: `moved-${id.slice(0, 8)}@perm.onmicrosoft.com` } };
    case "domains":
      return { method: "GET", url: "/domains" };
    default:
      return { method: "GET", url: "/applications(appId='00000000-0000-0000-0000-000000000001')?$select=passwordCredentials" };
  }
};

async function send(role: string, c: { method: string; url: string; body?: unknown }): Promise<{ status: number; body: unknown }> {
  const res = await simFetch(sim, `/v1.0${c.url}`, {
    method: c.method,
    token: tokens.get(role)!,
    ...(c.body ? { body: JSON.stringify(c.body), headers: { "content-type": "application/json" } } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

const denied = (body: unknown) => {
  const e = (body as { error: { code: string; message: string; innerError: Record<string, string> } }).error;
  expect(e.code).toBe("Authorization_RequestDenied");
  expect(e.message).toBe("Insufficient privileges to complete the operation.");
  expect(e.innerError["request-id"]).toBeTruthy();
  expect(e.innerError.date).toBeTruthy();
};

describe("simulator: application permissions per Graph call", () => {
  it("a token carries the granted permissions in `roles`, and none at all without admin consent", () => {
    const claims = (tok: string) => JSON.parse(Buffer.from(tok.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
    expect(claims(tokens.get("Domain.Read.All")!).roles).toEqual(["Domain.Read.All"]);
    expect(claims(tokens.get("")!)).not.toHaveProperty("roles");
  });

  for (const what of Object.keys(GRANTED_BY)) {
    it(`${what}: allowed exactly for ${GRANTED_BY[what]!.join(", ")}`, async () => {
      for (const role of PROBED) {
        const r = await send(role, call(role, what));
        if (GRANTED_BY[what]!.includes(role)) {
          // 404 for the application: the call was authorised, there is no such app
          expect([200, 204, 404], `${what} with ${role || "no roles"}: ${JSON.stringify(r.body)}`).toContain(r.status);
        } else {
          expect(r.status, `${what} with ${role || "no roles"}`).toBe(403);
          denied(r.body);
        }
      }
    });
  }

  it("User.ReadWrite.All does not read domains (the permission Immutable ID sync needs besides it)", async () => {
    const r = await send("User.ReadWrite.All", { method: "GET", url: "/domains" });
    expect(r.status).toBe(403);
    denied(r.body);
  });

  it("$batch authorises each inner request on its own", async () => {
    const role = "User.ReadWrite.All";
    const res = await simFetch(sim, "/v1.0/$batch", {
      method: "POST",
      token: tokens.get(role)!,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        requests: [
          { id: "u", method: "GET", url: `/users/${userFor.get(role)!}?$select=id` },
          { id: "d", method: "GET", url: "/domains" },
          { id: "a", method: "GET", url: "/applications(appId='00000000-0000-0000-0000-000000000001')" },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as { responses: Array<{ id: string; status: number; body: unknown }> };
    const byId = new Map(out.responses.map((r) => [r.id, r]));
    expect(byId.get("u")!.status).toBe(200);
    for (const id of ["d", "a"]) {
      expect(byId.get(id)!.status).toBe(403);
      denied(byId.get(id)!.body);
    }
  });
});
