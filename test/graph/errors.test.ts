import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { probeTenantDiscovery } from "../../src/graph/credential.js";
import { createRun, executeRun } from "../../src/sync/run.js";
import { addTenant, setTenantSecret } from "../../src/tenants/onboarding.js";
import { emlFiles } from "../expiry/helpers.js";
import { useLocalStack } from "../support/stack.js";

const outbox = mkdtempSync(path.join(tmpdir(), "es-graph-errors-outbox-"));
const stack = useLocalStack({ simulator: { latencyMs: 0 }, env: { MAIL_OUTBOX_DIR: outbox } });

describe("Graph and Entra failures are named for what they are", () => {
  it("a tenant Entra does not know (discovery answers invalid_tenant, MSAL says endpoints_resolution_error) is AUTH_TENANT_NOT_FOUND, and its admins are told", async () => {
    const s = stack();
    // Registered here with a secret in the vault, but no such tenant in Entra.
    const tenantId = randomUUID();
    await addTenant(s.app, { tenantId, clientId: randomUUID(), displayName: "Nowhere School", adminEmails: ["it@nowhere.example"] });
    await setTenantSecret(s.app, tenantId, "a-secret-value-for-nowhere", new Date(Date.now() + 90 * 86_400_000));
    const r = await createRun(s.app, { tenantId, trigger: "manual", mode: "incremental", dryRun: false });
    const { report } = await executeRun(s.app, tenantId, r.runId);
    expect(report.status).toBe("failed");
    expect(report.errors.map((e) => e.code)).toEqual(["AUTH_TENANT_NOT_FOUND"]);
    expect(report.errors[0]!.message).toContain(`entra-sync tenant show ${tenantId}`);
    const mails = emlFiles(outbox).filter((m) => m.includes(tenantId));
    expect(mails.length).toBeGreaterThan(0);
    expect(mails.join("\n")).not.toContain("a-secret-value-for-nowhere");
  });

  it("a failed discovery is told apart by Entra's answer: unknown tenant, unreachable host, or neither", async () => {
    const s = stack();
    const tenant = { tenantId: randomUUID(), clientId: randomUUID() };
    expect(await probeTenantDiscovery({ authorityHost: s.sim.authorityHost, tenant, ca: s.sim.ca })).toBe("tenantNotFound");
    expect(await probeTenantDiscovery({ authorityHost: s.sim.authorityHost, tenant: { ...tenant, tenantId: s.sim.vaultIdentity.tenantId }, ca: s.sim.ca })).toBe("other");
    expect(await probeTenantDiscovery({ authorityHost: "https://127.0.0.1:1", tenant, ca: s.sim.ca })).toBe("unreachable");
  });
});
