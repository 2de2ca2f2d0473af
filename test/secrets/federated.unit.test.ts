/** Federated tenants without network: settings, registration, per-cloud audience, and how Entra's refusals are read. */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { tenantRow } from "../support/tenant-row.js";
import { loadSettings } from "../../src/config/settings.js";
import { EntraSyncError } from "../../src/errors.js";
import { classifyGraphError } from "../../src/graph/errors.js";
import { federatedRegistration, tokenExchangeAudience } from "../../src/secrets/federated.js";
import { overviewPage, parseOverviewQuery, type TenantRow } from "../../src/ui/overview.js";
import { tenantsPage } from "../../src/ui/pages.js";

const base = { AzureWebJobsStorage: "UseDevelopmentStorage=true", KEY_VAULT_URL: "https://v.vault.azure.net/" };
const app = randomUUID();
const mi = randomUUID();

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof EntraSyncError ? `${e.code}:${e.field ?? ""}:${e.message}` : String(e);
  }
  return undefined;
}

describe("FEDERATED_APP_CLIENT_ID and MANAGED_IDENTITY_CLIENT_ID", () => {
  it("are both set or both unset; each must be a GUID", () => {
    expect(loadSettings(base).federation).toBeUndefined();
    expect(loadSettings({ ...base, FEDERATED_APP_CLIENT_ID: app.toUpperCase(), MANAGED_IDENTITY_CLIENT_ID: mi }).federation).toEqual({ appClientId: app, managedIdentityClientId: mi });
    expect(codeOf(() => loadSettings({ ...base, FEDERATED_APP_CLIENT_ID: app }))).toMatch(/^CONFIG_INVALID:.*MANAGED_IDENTITY_CLIENT_ID is missing/);
    expect(codeOf(() => loadSettings({ ...base, MANAGED_IDENTITY_CLIENT_ID: mi }))).toMatch(/^CONFIG_INVALID:.*FEDERATED_APP_CLIENT_ID is missing/);
    expect(codeOf(() => loadSettings({ ...base, FEDERATED_APP_CLIENT_ID: app, MANAGED_IDENTITY_CLIENT_ID: "/subscriptions/x/resourceGroups/y" }))).toMatch(/MANAGED_IDENTITY_CLIENT_ID.*must be a GUID/);
  });
});

describe("a federated registration", () => {
  const settings = { federation: { appClientId: app, managedIdentityClientId: mi } };
  it("takes the platform's app as its client id; a secret tenant is left as it is", () => {
    expect(federatedRegistration(settings, { auth: "federated", tenantId: "t" })).toMatchObject({ clientId: app });
    expect(federatedRegistration(settings, { auth: "federated", clientId: app.toUpperCase() })).toMatchObject({ clientId: app });
    const secret = { clientId: "x" };
    expect(federatedRegistration(settings, secret)).toBe(secret);
  });

  it("refuses another client id, and a deployment without the federated app", () => {
    expect(codeOf(() => federatedRegistration(settings, { auth: "federated", clientId: randomUUID() }))).toMatch(/^INPUT_INVALID:client-id:/);
    expect(codeOf(() => federatedRegistration({ federation: undefined }, { auth: "federated" }))).toMatch(/^CONFIG_INVALID:auth:.*FEDERATED_APP_CLIENT_ID/);
  });
});

it("asks the managed identity for each cloud's own exchange audience", () => {
  expect(["global", "usgov", "usgovdod", "china"].map((c) => tokenExchangeAudience(c as "global"))).toEqual([
    "api://AzureADTokenExchange",
    "api://AzureADTokenExchangeUSGov",
    "api://AzureADTokenExchangeUSGov",
    "api://AzureADTokenExchangeChina",
  ]);
});

describe("Entra's refusals for a federated tenant", () => {
  const t = { tenantId: randomUUID(), clientId: app, cloud: "global" as const, auth: "federated" as const };
  const refused = (code: number) => new Error(`ClientAssertionCredential authentication failed: AADSTS${code}: something. Trace ID: x`);

  it("a credential mismatch is the platform's configuration (no customer mail), named by its AADSTS code", () => {
    for (const code of [70021, 700211, 700212, 700213, 700024, 700027]) {
      const e = classifyGraphError(refused(code), t, "read users");
      expect([e.code, e.errorClass]).toEqual(["AUTH_FEDERATION_MISMATCH", "configuration"]);
      expect(e.message).toContain(`AADSTS${code}`);
    }
  });

  it("no service principal in the tenant is consent not granted or revoked, with the tenant's admin-consent link", () => {
    const e = classifyGraphError(refused(700016), t, "read users");
    expect(e.code).toBe("AUTH_APP_NOT_FOUND");
    expect(e.message).toContain(`https://login.microsoftonline.com/${t.tenantId}/adminconsent?client_id=${app}`);
    expect(classifyGraphError(refused(700016), { ...t, cloud: "china" }, "read users").message).toContain("https://login.partner.microsoftonline.cn/");
  });

  it("the same codes for a client-secret tenant keep their meaning there", () => {
    expect(classifyGraphError(refused(700213), { ...t, auth: undefined }, "read users").code).toBe("AUTH_FAILED");
    expect(classifyGraphError(refused(7000215), t, "read users").code).toBe("AUTH_SECRET_INVALID");
  });
});

it("the status page shows a federated tenant's secret as none (federated), a secret tenant's by days left", () => {
  const rows: TenantRow[] = [tenantRow(1, { auth: "federated" }), tenantRow(2, { secret: { expiresOn: "2027-01-01T00:00:00Z", daysLeft: 31, source: "keyVault", mismatch: false } })];
  const page = tenantsPage(overviewPage(rows, parseOverviewQuery(new URLSearchParams("").entries())), { id: "op", name: "Operator" });
  const rowOf = (i: number) => page.slice(page.indexOf(`data-tenant="${rows[i]!.status.tenantId}"`)).split("</tr>")[0]!;
  expect(rowOf(0)).toContain("none (federated)");
  expect(rowOf(1)).toContain("31 d");
  expect(rowOf(1)).not.toContain("federated");
});
