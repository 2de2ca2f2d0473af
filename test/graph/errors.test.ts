import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { probeTenantDiscovery } from "../../src/graph/credential.js";
import { createRun, executeRun } from "../../src/runs/execute.js";
import { addTenant, setTenantSecret } from "../../src/tenants/onboarding.js";
import { emlFiles } from "../expiry/helpers.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";

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

  it("a redirect to another origin is refused as GRAPH_FOREIGN_LINK before that host is asked anything", async () => {
    const s = stack();
    // Another local origin that would answer like Graph.
    let asked = 0;
    const foreign = createServer((_req, res) => {
      asked++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ value: [{ id: randomUUID(), userPrincipalName: "intruder@elsewhere.example" }], "@odata.deltaLink": `${s.sim.graphBaseUrl}/v1.0/users/delta?$deltatoken=x` }));
    });
    await new Promise<void>((r) => foreign.listen(0, "127.0.0.1", r));
    try {
      const { users, platformUsers } = simpleDirectory(3);
      const { tenant } = await onboard(s, { users, platformUsers });
      const elsewhere = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}/v1.0/users/delta`;
      s.sim.control.injectFault({ method: "GET", path: "/users/delta", tenantId: tenant.tenantId, status: 302, headers: { Location: elsewhere } });
      const r = await createRun(s.app, { tenantId: tenant.tenantId, trigger: "manual", mode: "full", dryRun: false, only: ["update"] });
      const { report } = await executeRun(s.app, tenant.tenantId, r.runId);
      expect(report.errors.map((e) => e.code)).toEqual(["GRAPH_FOREIGN_LINK"]);
      expect(report.update.read).toBe(0);
      expect(asked).toBe(0);
    } finally {
      foreign.close();
    }
  });

  it("a redirect within the Graph origin is followed with the token", async () => {
    const s = stack();
    const { users, platformUsers } = simpleDirectory(3);
    const { tenant } = await onboard(s, { users, platformUsers });
    s.sim.control.injectFault({ method: "GET", path: "/users/delta", tenantId: tenant.tenantId, status: 307, headers: { Location: "/v1.0/users/delta" } });
    const r = await createRun(s.app, { tenantId: tenant.tenantId, trigger: "manual", mode: "full", dryRun: false, only: ["update"] });
    const { report } = await executeRun(s.app, tenant.tenantId, r.runId);
    expect(report.errors).toEqual([]);
    expect(report.update.read).toBe(3);
    const delta = s.sim.control.requestLog().filter((e) => e.tenantId === tenant.tenantId && e.path.startsWith("/v1.0/users/delta"));
    expect(delta[0]?.status).toBe(307);
    expect(delta.every((e) => e.authorization)).toBe(true);
  });
});
