/**
 * Federated tenants on the local stack: the simulator plays the function app's managed identity endpoint and Entra's
 * workload identity federation; the production code gets tokens through @azure/identity's ClientAssertionCredential
 * with ManagedIdentityCredential's token as the assertion. A federated and a client-secret tenant share one fleet.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { onboardFederatedSimTenant } from "../../dev/demo/onboard.js";
import type { SimFederatedCredential } from "../../dev/simulator/index.js";
import { buildCli } from "../../src/cli/main.js";
import { collectExpiries } from "../../src/expiry/check.js";
import { adminConsentUrl } from "../../src/graph/permissions.js";
import { listTenantStatuses } from "../../src/runs/status.js";
import { checkTenant } from "../../src/tenants/check.js";
import { emlFiles } from "../expiry/helpers.js";
import { run } from "../immutable-id/helpers.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";

const outbox = mkdtempSync(path.join(tmpdir(), "es-federated-outbox-"));
const stackOf = useLocalStack({ env: { MAIL_OUTBOX_DIR: outbox } });

async function federatedSchool(o: { consent?: boolean; roles?: string[] } = {}) {
  const s = stackOf();
  const { users, platformUsers } = simpleDirectory(5);
  const { tenant } = await onboardFederatedSimTenant(s, {
    displayName: `Federated ${randomUUID().slice(0, 6)}`,
    users,
    platformUsers,
    managedDomain: "school.onmicrosoft.com",
    ...(o.consent !== undefined ? { consent: o.consent } : {}),
    ...(o.roles ? { roles: o.roles } : {}),
    registration: { adminEmails: ["it@federated.example"], immutableId: { mode: "off" } },
  });
  return { s, tenant };
}

/** Every token request's form, and whether the request read a Key Vault secret, from the simulator's log. */
const vaultReadsOf = (tenantId: string) =>
  stackOf()
    .sim.control.requestLog()
    .filter((e) => e.path.startsWith(`/secrets/tenant-${tenantId}`));

describe("federated tenants (no secret)", () => {
  it("a federated and a client-secret tenant run in one fleet; the federated one reads no secret and asks the managed identity", async () => {
    const s = stackOf();
    const secretTenant = await onboard(s, { ...simpleDirectory(4), displayName: "Secret School", registration: { immutableId: { mode: "off" } } });
    const { tenant } = await federatedSchool();
    expect(tenant.auth).toBe("federated");
    expect(tenant.clientId).toBe(s.sim.federation.appClientId);
    s.sim.control.resetStats();

    const [fed, sec] = await Promise.all([run(s, tenant.tenantId), run(s, secretTenant.tenant.tenantId)]);
    expect(fed.status).toBe("succeeded");
    expect(fed.update.matched).toBe(5);
    expect(sec.status).toBe("succeeded");
    expect(sec.update.matched).toBe(4);

    const log = s.sim.control.requestLog();
    expect(log.some((e) => e.path.startsWith("/msi/token") && e.status === 200)).toBe(true);
    expect(log.some((e) => e.tenantId === tenant.tenantId && e.path.includes("/oauth2/v2.0/token") && e.status === 200)).toBe(true);
    expect(vaultReadsOf(tenant.tenantId)).toEqual([]);
    expect(vaultReadsOf(secretTenant.tenant.tenantId).length).toBeGreaterThan(0);
  });

  it("tenant check verifies consent and roles through the federated credential", async () => {
    const { s, tenant } = await federatedSchool({ roles: ["User.Read.All"] });
    const r = await checkTenant(s.app, tenant.tenantId);
    expect(r.tokenError).toBeUndefined();
    expect(r.roles).toEqual(["User.Read.All"]);
    expect(r.adminConsentUrl).toBe(adminConsentUrl(tenant));
  });

  it("without consent: AUTH_APP_NOT_FOUND naming the admin-consent link, the auth-failure mail, then a resolved mail once consent is granted", async () => {
    const { s, tenant } = await federatedSchool();
    await s.sim.control.revokeConsent(tenant.tenantId, tenant.clientId);
    const failed = await run(s, tenant.tenantId);
    expect(failed.status).toBe("failed");
    expect(failed.failure?.code).toBe("AUTH_APP_NOT_FOUND");
    expect(failed.failure?.message).toContain("AADSTS700016");
    expect(failed.failure?.message).toContain(adminConsentUrl(tenant));
    const mine = () => emlFiles(outbox).filter((m) => m.includes(`${tenant.tenantId}/`));
    expect(mine().filter((m) => m.includes(`${tenant.tenantId}/authFailure:AUTH_APP_NOT_FOUND`))).toHaveLength(1);
    expect(mine()[0]).toContain("it@federated.example");

    await s.sim.control.grantConsent(tenant.tenantId, tenant.clientId, ["User.ReadWrite.All", "Domain.Read.All"]);
    const ok = await run(s, tenant.tenantId);
    expect(ok.status).toBe("succeeded");
    expect(mine().filter((m) => m.includes(`${tenant.tenantId}/authFixed:AUTH_APP_NOT_FOUND`))).toHaveLength(1);
  });

  const mismatches: Array<[string, Partial<SimFederatedCredential>, string]> = [
    ["issuer", { issuer: "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0" }, "AADSTS700211"],
    ["subject", { subject: randomUUID() }, "AADSTS700213"],
    ["audience", { audiences: ["api://AzureADTokenExchangeUSGov"] }, "AADSTS700212"],
  ];
  for (const [what, change, aadsts] of mismatches) {
    it(`a federated credential with another ${what}: AUTH_FEDERATION_MISMATCH (${aadsts}), the platform's to fix, no mail to the customer`, async () => {
      const { s, tenant } = await federatedSchool();
      const original = s.sim.federation.credential;
      await s.sim.control.setFederatedCredentials(tenant.clientId, [{ ...original, ...change }]);
      try {
        const r = await run(s, tenant.tenantId);
        expect(r.status).toBe("failed");
        expect(r.failure?.code).toBe("AUTH_FEDERATION_MISMATCH");
        expect(r.failure?.class).toBe("configuration");
        expect(r.failure?.message).toContain(aadsts);
        expect(emlFiles(outbox).filter((m) => m.includes(`${tenant.tenantId}/`))).toEqual([]);
      } finally {
        await s.sim.control.setFederatedCredentials(tenant.clientId, [original]);
      }
    });
  }

  it("has no secret to expire: status, expiry and the CLI say so", async () => {
    const { s, tenant } = await federatedSchool();
    const { rows } = await collectExpiries(s.app);
    const row = rows.find((r) => r.tenantId === tenant.tenantId)!;
    expect(row.federated).toBe(true);
    expect(row.problem).toBeUndefined();
    const status = (await listTenantStatuses(s.app, tenant.tenantId)).find((t) => t.tenantId === tenant.tenantId)!;
    expect(status.auth).toBe("federated");
    expect(status.secret).toBeNull();
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), isTTY: false, readStdin: async () => "" };
    await buildCli(() => s.app, io).parseAsync(["node", "entra-sync", "expiry"]);
    expect(out.join("\n")).toMatch(new RegExp(`${tenant.tenantId}.*federated: no secret to expire`));
  });

  it("tenant add --auth federated prints the admin-consent link; another --client-id is refused", async () => {
    const s = stackOf();
    const created = await s.sim.control.createTenant({ displayName: "CLI Federated" });
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), isTTY: false, readStdin: async () => "" };
    await buildCli(() => s.app, io).parseAsync(["node", "entra-sync", "tenant", "add", "--tenant-id", created.id, "--auth", "federated", "--name", "CLI Federated"]);
    const url = `https://login.microsoftonline.com/${created.id}/adminconsent?client_id=${s.sim.federation.appClientId}`;
    expect(out[0]).toContain(url);
    expect((await s.app.tenants.require(created.id)).auth).toBe("federated");
    const other = await s.sim.control.createTenant({ displayName: "CLI Federated 2" });
    await expect(
      buildCli(() => s.app, io).parseAsync(["node", "entra-sync", "tenant", "add", "--tenant-id", other.id, "--auth", "federated", "--client-id", randomUUID(), "--name", "X"]),
    ).rejects.toMatchObject({ code: "INPUT_INVALID" });
  });
});
