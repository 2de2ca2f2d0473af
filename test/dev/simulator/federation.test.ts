/**
 * The simulator's side of workload identity federation on the wire: the App Service managed identity endpoint and
 * the token endpoint's jwt-bearer client assertion, with Entra's documented refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../../dev/simulator/index.js";
import { simFetch } from "./helpers.js";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.stop();
});

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;

async function miToken(o: { header?: string | null; clientId?: string; resource?: string } = {}): Promise<Response> {
  const q = new URLSearchParams({ "api-version": "2019-08-01", resource: o.resource ?? "api://AzureADTokenExchange", client_id: o.clientId ?? sim.federation.managedIdentity.clientId });
  const headers: Record<string, string> = {};
  if (o.header !== null) headers["X-IDENTITY-HEADER"] = o.header ?? sim.federation.identityHeader;
  return simFetch(sim, `${sim.federation.identityEndpoint}?${q}`, { headers });
}

async function assertionToken(tenantId: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await simFetch(sim, `/${tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "https://graph.microsoft.com/.default", client_id: sim.federation.appClientId, ...form }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

describe("managed identity endpoint (App Service, API 2019-08-01)", () => {
  it("gives the user-assigned identity's token: v2.0 issuer of its tenant, subject its principal id, the asked audience", async () => {
    const res = await miToken();
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; expires_on: string };
    expect(Number(body.expires_on)).toBeGreaterThan(Date.now() / 1000);
    const c = claims(body.access_token);
    expect(c.iss).toBe(`${sim.authorityHost}/${sim.federation.tenantId}/v2.0`);
    expect(c.sub).toBe(sim.federation.managedIdentity.principalId);
    expect(c.aud).toBe("api://AzureADTokenExchange");
  });

  it("refuses a request without the identity header, and an identity not assigned to the app", async () => {
    expect((await miToken({ header: null })).status).toBe(401);
    expect((await miToken({ clientId: "00000000-0000-0000-0000-000000000001" })).status).toBe(400);
  });
});

describe("token endpoint with a jwt-bearer client assertion", () => {
  async function customer(roles: string[] | undefined) {
    const t = sim.control.createTenant({ displayName: `Customer ${Math.random().toString(36).slice(2, 8)}` });
    if (roles) sim.control.grantConsent(t.id, sim.federation.appClientId, roles);
    const assertion = ((await (await miToken()).json()) as { access_token: string }).access_token;
    return { t, assertion };
  }

  it("issues the consented roles in the customer's tenant to the platform's app", async () => {
    const { t, assertion } = await customer(["User.Read.All"]);
    const r = await assertionToken(t.id, { client_assertion_type: JWT_BEARER, client_assertion: assertion });
    expect(r.status).toBe(200);
    const c = claims(String(r.body.access_token));
    expect(c.tid).toBe(t.id);
    expect(c.appid).toBe(sim.federation.appClientId);
    expect(c.roles).toEqual(["User.Read.All"]);
  });

  it("without consent in the tenant: AADSTS700016", async () => {
    const { t, assertion } = await customer(undefined);
    const r = await assertionToken(t.id, { client_assertion_type: JWT_BEARER, client_assertion: assertion });
    expect(r.status).toBe(400);
    expect(r.body.error_codes).toEqual([700016]);
  });

  it("refuses what Entra refuses: no federated credential (70021), a token it did not issue (700027), not a JWT (50027), a wrong assertion type (900144)", async () => {
    const { t, assertion } = await customer(["User.Read.All"]);
    const original = sim.control.federatedCredentials(sim.federation.appClientId);
    sim.control.setFederatedCredentials(sim.federation.appClientId, []);
    try {
      const none = await assertionToken(t.id, { client_assertion_type: JWT_BEARER, client_assertion: assertion });
      expect([none.status, none.body.error_codes]).toEqual([400, [70021]]);
    } finally {
      sim.control.setFederatedCredentials(sim.federation.appClientId, original);
    }
    const [h, , s] = assertion.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims(assertion), uti: "forged" })).toString("base64url")}.${s}`;
    const f = await assertionToken(t.id, { client_assertion_type: JWT_BEARER, client_assertion: forged });
    expect([f.status, f.body.error, f.body.error_codes]).toEqual([401, "invalid_client", [700027]]);
    const m = await assertionToken(t.id, { client_assertion_type: JWT_BEARER, client_assertion: "not-a-jwt" });
    expect(m.body.error_codes).toEqual([50027]);
    const w = await assertionToken(t.id, { client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", client_assertion: assertion });
    expect(w.body.error_codes).toEqual([900144]);
  });

  it("a token of another audience than the credential's: AADSTS700212", async () => {
    const { t } = await customer(["User.Read.All"]);
    const graphToken = ((await (await miToken({ resource: "https://graph.microsoft.com" })).json()) as { access_token: string }).access_token;
    const r = await assertionToken(t.id, { client_assertion_type: JWT_BEARER, client_assertion: graphToken });
    expect([r.status, r.body.error_codes]).toEqual([401, [700212]]);
  });
});
