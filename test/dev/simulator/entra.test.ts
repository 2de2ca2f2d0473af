import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../../dev/simulator/index.js";
import { credential, setupTenant, simFetch } from "./helpers.js";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.stop();
});

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("Entra token endpoint through ClientSecretCredential", () => {
  it("issues a JWT-shaped token with tid, appid, aud and roles", async () => {
    const { tenant, app, cred } = setupTenant(sim, ["User.Read.All"]);
    const tok = await cred.getToken("https://graph.microsoft.com/.default");
    expect(tok.token.split(".")).toHaveLength(3);
    const c = claims(tok.token);
    expect(c["tid"]).toBe(tenant.id);
    expect(c["appid"]).toBe(app.clientId);
    expect(c["aud"]).toBe("https://graph.microsoft.com");
    expect(c["roles"]).toEqual(["User.Read.All"]);
    expect(tok.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000_000);
  });

  it("omits the roles claim when consent is missing", async () => {
    const { cred } = setupTenant(sim, []);
    const tok = await cred.getToken("https://graph.microsoft.com/.default");
    expect(claims(tok.token)).not.toHaveProperty("roles");
  });

  it("an unknown tenant: discovery answers 400 invalid_tenant (AADSTS90002), which MSAL reports as endpoints_resolution_error", async () => {
    const unknown = "00000000-0000-0000-0000-00000000dead";
    const res = await simFetch(sim, `/${unknown}/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body["error"]).toBe("invalid_tenant");
    expect(body["error_codes"]).toEqual([90002]);
    const cred = credential(sim, unknown, "11111111-1111-1111-1111-111111111111", "x");
    const err = await cred.getToken("https://graph.microsoft.com/.default").then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/endpoints_resolution_error/);
    expect(err?.message).not.toMatch(/AADSTS90002/);
  });

  it("AADSTS700016 for an app not in the tenant", async () => {
    const { tenant } = setupTenant(sim);
    const cred = credential(sim, tenant.id, "22222222-2222-2222-2222-222222222222", "x");
    await expect(cred.getToken("https://graph.microsoft.com/.default")).rejects.toThrow(/AADSTS700016/);
  });

  it("AADSTS7000215 for a wrong secret, never echoing it", async () => {
    const { tenant, app, secret } = setupTenant(sim);
    const cred = credential(sim, tenant.id, app.clientId, secret.keyId);
    const err = await cred.getToken("https://graph.microsoft.com/.default").then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/AADSTS7000215/);
    expect(err?.message).toMatch(/client secret value, not the client secret ID/);
    expect(err?.message).not.toContain(secret.keyId);
  });

  it("AADSTS7000222 for an expired secret", async () => {
    const { tenant, app } = setupTenant(sim);
    const old = sim.control.addSecret(tenant.id, app.clientId, { endDateTime: new Date(Date.now() - 1000) });
    const cred = credential(sim, tenant.id, app.clientId, old.value);
    await expect(cred.getToken("https://graph.microsoft.com/.default")).rejects.toThrow(/AADSTS7000222/);
  });

  it("AADSTS7000112 for a disabled app", async () => {
    const { tenant, app, secret } = setupTenant(sim);
    sim.control.setAppEnabled(tenant.id, app.clientId, false);
    const cred = credential(sim, tenant.id, app.clientId, secret.value);
    await expect(cred.getToken("https://graph.microsoft.com/.default")).rejects.toThrow(/AADSTS7000112/);
  });

  it("answers Entra's error body shape", async () => {
    const res = await simFetch(sim, "/nope.onmicrosoft.com/oauth2/v2.0/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials&client_id=a&client_secret=b&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body["error"]).toBe("invalid_request");
    expect(body["error_codes"]).toEqual([90002]);
    expect(String(body["error_description"])).toMatch(/^AADSTS90002: .*\r\nTrace ID: .*\r\nCorrelation ID: .*\r\nTimestamp: /s);
    for (const k of ["timestamp", "trace_id", "correlation_id", "error_uri"]) expect(body).toHaveProperty(k);
  });

  it("serves discovery with an issuer on the authority's origin", async () => {
    const res = await simFetch(sim, `/${sim.vaultIdentity.tenantId}/v2.0/.well-known/openid-configuration`);
    const doc = (await res.json()) as Record<string, string>;
    expect(new URL(doc["issuer"]!).origin).toBe(sim.baseUrl);
    expect(doc["token_endpoint"]).toBe(`${sim.baseUrl}/${sim.vaultIdentity.tenantId}/oauth2/v2.0/token`);
    const keys = await simFetch(sim, `/${sim.vaultIdentity.tenantId}/discovery/v2.0/keys`);
    expect(await keys.json()).toEqual({ keys: [] });
  });

  it("builds links on the Host the client used (localhost is not 127.0.0.1)", async () => {
    const res = await simFetch(sim, sim.baseUrl.replace("127.0.0.1", "localhost") + `/${sim.vaultIdentity.tenantId}/v2.0/.well-known/openid-configuration`);
    const doc = (await res.json()) as Record<string, string>;
    expect(doc["token_endpoint"]!.startsWith("https://localhost:")).toBe(true);
  });
});
