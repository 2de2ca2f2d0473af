import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../../dev/simulator/index.js";
import { credential, secretClient, setupTenant } from "./helpers.js";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.stop();
});

describe("Key Vault through SecretClient", () => {
  it("set (with expiresOn) / get / list round trip, challenge first", async () => {
    const client = secretClient(sim);
    const expiresOn = new Date(Date.UTC(2031, 0, 2, 3, 4, 5));
    const set = await client.setSecret("tenant-abc", "s3cr3t~value", { expiresOn, contentType: "text/plain", tags: { tenant: "abc" } });
    expect(set.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(set.properties.id).toBe(`${sim.keyVaultUrl}secrets/tenant-abc/${set.properties.version}`);
    const got = await client.getSecret("tenant-abc");
    expect(got.value).toBe("s3cr3t~value");
    expect(got.properties.expiresOn?.toISOString()).toBe(expiresOn.toISOString());
    expect(got.properties.tags).toEqual({ tenant: "abc" });
    const byVersion = await client.getSecret("tenant-abc", { version: set.properties.version! });
    expect(byVersion.value).toBe("s3cr3t~value");

    const log = sim.control.requestLog().filter((e) => e.path.startsWith("/secrets"));
    expect(log[0]).toMatchObject({ status: 401, authorization: false });
    expect(log[1]).toMatchObject({ status: 200, authorization: true });
  });

  it("lists properties across pages and versions; updates and deletes", async () => {
    const client = secretClient(sim);
    for (let i = 0; i < 30; i++) await client.setSecret(`bulk-${String(i).padStart(2, "0")}`, `v${i}`);
    await client.setSecret("bulk-00", "second");
    const names: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
    expect(names.filter((n) => n.startsWith("bulk-"))).toHaveLength(30);
    const versions: string[] = [];
    for await (const p of client.listPropertiesOfSecretVersions("bulk-00")) versions.push(p.version!);
    expect(versions).toHaveLength(2);
    const latest = await client.getSecret("bulk-00");
    const upd = await client.updateSecretProperties("bulk-00", latest.properties.version!, { enabled: false, tags: { a: "b" } });
    expect(upd.enabled).toBe(false);
    await expect(client.getSecret("bulk-00")).rejects.toMatchObject({ statusCode: 403, code: "Forbidden" });
    const poller = await client.beginDeleteSecret("bulk-01", { intervalInMs: 1 });
    const deleted = await poller.pollUntilDone();
    expect(deleted.name).toBe("bulk-01");
    await expect(client.getSecret("bulk-01")).rejects.toMatchObject({ statusCode: 404, code: "SecretNotFound" });
  });

  it("rejects bad names and unknown secrets", async () => {
    const client = secretClient(sim);
    await expect(client.setSecret("bad_name", "x")).rejects.toMatchObject({ statusCode: 400, code: "BadParameter" });
    await expect(client.getSecret("missing")).rejects.toMatchObject({ statusCode: 404, code: "SecretNotFound" });
  });

  it("forbids identities other than the platform's own", async () => {
    const { tenant, app, secret } = setupTenant(sim);
    // challenge names the vault tenant; a credential of another tenant may still be asked for it
    const cred = credential(sim, tenant.id, app.clientId, secret.value);
    const tok = await cred.getToken("https://vault.azure.net/.default");
    const res = await fetch(`${sim.keyVaultUrl}secrets/tenant-abc?api-version=7.6`, {
      headers: { authorization: `Bearer ${tok.token}` },
      dispatcher: new (await import("undici")).Agent({ connect: { ca: sim.ca } }),
    } as RequestInit);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("Forbidden");
    const other = new SecretClient(sim.keyVaultUrl, cred, { disableChallengeResourceVerification: true, tlsOptions: { ca: sim.ca }, retryOptions: { maxRetries: 0 } });
    // refused either by the vault (403) or, for another tenant, already by the SDK's challenge check
    const err = (await other.getSecret("tenant-abc").then(() => undefined, (e: unknown) => e)) as { statusCode?: number; message?: string } | undefined;
    expect(err).toBeDefined();
    expect(err!.statusCode === 403 || /not configured to acquire tokens for tenant/i.test(err!.message ?? "")).toBe(true);
  });
});
