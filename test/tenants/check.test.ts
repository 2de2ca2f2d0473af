/**
 * `tenant check` and what each capability does when the permission it needs is withdrawn — against the local stack,
 * whose simulator grants each Graph call only to the permissions Microsoft's reference lists for it.
 */
import { randomUUID } from "node:crypto";
import azureFunctions from "@azure/functions";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import { provideApp } from "../../src/functions/app.js";
import { checkTenantHandler } from "../../src/functions/checkTenant.js";
import { DEFAULT_MAPPING } from "../../src/mapping/mapping.js";
import { checkTenant, type TenantCheckResult } from "../../src/tenants/check.js";
import { addTenant, setTenantSecret } from "../../src/tenants/onboarding.js";
import { ON, run } from "../immutable-id/helpers.js";
import { onboard, useLocalStack } from "../support/stack.js";

const { HttpRequest, InvocationContext } = azureFunctions;
const stackOf = useLocalStack();

/** The README's least-privileged set for every capability (Immutable ID sync on, birthday mapped). */
const FULL = ["User.ReadWrite.All", "Domain.Read.All", "Application.Read.All"];

async function school(roles: string[]) {
  const s = stackOf();
  const users = ["ann@school.onmicrosoft.com", "bo@school.onmicrosoft.com"].map((upn) => ({ id: randomUUID(), userPrincipalName: upn, birthday: "2012-03-04T00:00:00Z" }));
  const platformUsers = users.map((u, i) => ({ id: `p-${i}`, tenantId: "x", externalId: u.id }));
  const { tenant, clientSecret } = await onboard(s, {
    users,
    platformUsers,
    roles,
    registration: { immutableId: ON, mapping: { ...DEFAULT_MAPPING, birthDate: true }, adminEmails: ["it@school.example"] },
  });
  return { s, tenant, users, clientSecret };
}

const row = (r: TenantCheckResult, permission: string, neededFor: string) => r.checks.find((c) => c.permission === permission && c.neededFor === neededFor)!;

async function cli(args: string[], stdin = "") {
  const out: string[] = [];
  const err: string[] = [];
  process.exitCode = undefined; // runCli reports the exit code a command sets there
  const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t), readStdin: async () => stdin, isTTY: false }, () => stackOf().app);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("tenant check", () => {
  it("with the README's set every required permission works (read-only calls), and every existing capability runs", async () => {
    const { s, tenant, users, clientSecret } = await school(FULL);
    const before = s.sim.control.requestLog().length;
    const r = await checkTenant(s.app, tenant.tenantId);
    const calls = s.sim.control.requestLog().slice(before).filter((e) => e.tenantId === tenant.tenantId && e.path.includes("/v1.0/"));
    expect(calls.map((e) => e.method)).toEqual(calls.map(() => "GET")); // read-only
    expect(calls.map((e) => e.path.split("?")[0]).sort()).toEqual([`/v1.0/applications(appId='${tenant.clientId}')`, "/v1.0/domains", `/v1.0/users`, "/v1.0/users/delta", `/v1.0/users/${users[0]!.id}`].sort());
    expect(r.ok).toBe(true);
    expect(r.roles.sort()).toEqual([...FULL].sort());
    expect(r.checks.map((c) => [c.permission, c.neededFor, c.granted, c.result])).toEqual([
      ["User.Read.All", "update sync", true, "ok"],
      ["User.Read.All", "birthday", true, "ok"],
      ["Domain.Read.All", "Immutable ID sync", true, "ok"],
      ["User.ReadWrite.All", "Immutable ID sync", true, "notTried"],
      ["Application.Read.All", "secret expiry", true, "ok"],
    ]);
    expect(r.checks.every((c) => c.action === "")).toBe(true);
    expect(JSON.stringify(r)).not.toContain(clientSecret);

    const report = await run(s, tenant.tenantId);
    expect(report.status).toBe("succeeded");
    expect(report.immutableId?.written).toBe(2);
    expect((await s.app.directory.get(tenant.tenantId, "p-0"))?.birthDate).toBe("2012-03-04");
    expect((await s.app.secretFacts.get(tenant.tenantId))?.source).toBe("entra");
  });

  it("User.Read.All withdrawn (no permission covering it): update sync fails with a consent error; the check names it", async () => {
    const { s, tenant } = await school(["Domain.Read.All", "Application.Read.All"]);
    const report = await run(s, tenant.tenantId);
    expect(report.status).toBe("failed");
    expect(report.failure?.code).toBe("AUTH_CONSENT_MISSING");
    const r = await checkTenant(s.app, tenant.tenantId);
    expect(r.ok).toBe(false);
    for (const neededFor of ["update sync", "birthday"]) {
      expect(row(r, "User.Read.All", neededFor)).toMatchObject({ granted: false, result: "denied", detail: "403 Authorization_RequestDenied" });
      expect(row(r, "User.Read.All", neededFor).action).toContain(`/${tenant.tenantId}/adminconsent?client_id=${tenant.clientId}`);
    }
  });

  it("Domain.Read.All withdrawn: Immutable ID sync writes nothing and reports MISSING_PERMISSION; the check names it", async () => {
    const { s, tenant, users } = await school(["User.ReadWrite.All", "Application.Read.All"]);
    const report = await run(s, tenant.tenantId);
    expect(report.update.matched).toBe(2);
    expect(report.errors.find((e) => e.code === "MISSING_PERMISSION")?.message).toContain("Domain.Read.All");
    for (const u of users) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBeNull();
    const r = await checkTenant(s.app, tenant.tenantId);
    expect(r.ok).toBe(false);
    expect(row(r, "Domain.Read.All", "Immutable ID sync")).toMatchObject({ granted: false, result: "denied", optional: false });
    expect(r.checks.filter((c) => c.action !== "").map((c) => c.permission)).toEqual(["Domain.Read.All"]);
  });

  it("User.ReadWrite.All withdrawn (User.Read.All left): reads work, Immutable ID sync plans but writes nothing (MISSING_PERMISSION); the check names it", async () => {
    const { s, tenant, users } = await school(["User.Read.All", "Domain.Read.All", "Application.Read.All"]);
    const report = await run(s, tenant.tenantId);
    expect(report.update.matched).toBe(2);
    expect(report.immutableId?.planned).toBe(2);
    expect(report.errors.find((e) => e.code === "MISSING_PERMISSION")?.message).toMatch(/User\.ReadWrite\.All/);
    expect(report.notices.join(" ")).not.toMatch(/privileged/); // not mistaken for users with admin roles
    for (const u of users) expect(s.sim.control.getUser(tenant.tenantId, u.id)?.onPremisesImmutableId).toBeNull();
    const r = await checkTenant(s.app, tenant.tenantId);
    expect(r.ok).toBe(false);
    expect(row(r, "User.ReadWrite.All", "Immutable ID sync")).toMatchObject({ granted: false, result: "notTried" });
    expect(row(r, "User.ReadWrite.All", "Immutable ID sync").action).toContain("User.ReadWrite.All");
  });

  it("Application.Read.All withdrawn: secret expiry falls back to the recorded date; the check calls it optional", async () => {
    const { s, tenant } = await school(["User.ReadWrite.All", "Domain.Read.All"]);
    const report = await run(s, tenant.tenantId);
    expect(report.status).toBe("succeeded");
    expect(await s.app.secretFacts.get(tenant.tenantId)).toMatchObject({ source: "keyVault", applicationReadDenied: true });
    const r = await checkTenant(s.app, tenant.tenantId);
    expect(r.ok).toBe(true);
    const c = row(r, "Application.Read.All", "secret expiry");
    expect(c).toMatchObject({ optional: true, granted: false, result: "denied" });
    expect(c.action).toMatch(/optional: without it the expiry date recorded/);
  });

  it("the CLI prints one row per permission and exits 1 when a required one is missing; tenant add and secret set warn", async () => {
    const s = stackOf();
    const t = s.sim.control.createTenant({ displayName: "Warn School", initialDomain: "warn.onmicrosoft.com" });
    const a = s.sim.control.createApp(t.id, { roles: ["User.ReadWrite.All"] });
    const secret = s.sim.control.addSecret(t.id, a.clientId, { endDateTime: new Date(Date.now() + 100 * 86_400_000) });
    let r = await cli(["tenant", "add", "--tenant-id", t.id, "--client-id", a.clientId, "--name", "Warn School"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`entra-sync tenant check ${t.id}`); // no secret yet: checked after secret set
    r = await cli(["secret", "set", "--tenant", t.id, "--expires", new Date(Date.now() + 100 * 86_400_000).toISOString().slice(0, 10), "--from-stdin"], secret.value);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/warning: Domain\.Read\.All \(Immutable ID sync\): Add the Microsoft Graph application permission Domain\.Read\.All/);
    expect(r.err).toMatch(/note: Application\.Read\.All \(secret expiry\)/);

    r = await cli(["tenant", "check", t.id]);
    expect(r.code).toBe(1);
    const lines = r.out.split("\n");
    expect(lines.find((l) => l.startsWith("permission"))).toMatch(/^permission\s+needed for\s+granted\s+result\s+what to do$/);
    expect(lines.find((l) => l.startsWith("Domain.Read.All"))).toMatch(/^Domain\.Read\.All\s+Immutable ID sync\s+no\s+denied \(403\) 403 Authorization_RequestDenied\s+Add the Microsoft Graph/);
    expect(lines.find((l) => l.startsWith("User.Read.All"))).toMatch(/^User\.Read\.All\s+update sync\s+yes\s+ok\s+—$/);
    expect(r.out).not.toContain(secret.value);

    s.sim.control.setAppRoles(t.id, a.clientId, FULL);
    r = await cli(["tenant", "check", t.id, "--json"]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as TenantCheckResult).ok).toBe(true);
  });

  it("GET /api/tenants/{tenantId}/check answers the check; 404 for an unknown tenant, 400 for a bad id", async () => {
    const { s, tenant, clientSecret } = await school(["User.Read.All"]);
    provideApp(s.app);
    const ctx = new InvocationContext({ functionName: "checkTenant", logHandler: () => {} });
    const get = (tenantId: string) => checkTenantHandler(new HttpRequest({ method: "GET", url: `http://localhost/api/tenants/${tenantId}/check`, params: { tenantId } }), ctx);
    const ok = await get(tenant.tenantId);
    expect(ok.status).toBe(200);
    const body = ok.jsonBody as TenantCheckResult;
    expect(body.ok).toBe(false);
    expect(body.checks.filter((c) => !c.optional && c.action !== "").map((c) => c.permission)).toEqual(["Domain.Read.All", "User.ReadWrite.All"]);
    expect(JSON.stringify(body)).not.toContain(clientSecret);
    const unknown = await get(randomUUID());
    expect(unknown.status).toBe(404);
    expect((unknown.jsonBody as { error: { code: string } }).error.code).toBe("TENANT_NOT_FOUND");
    const bad = await get("not-a-guid");
    expect(bad.status).toBe(400);
    expect((bad.jsonBody as { error: { code: string } }).error.code).toBe("INPUT_INVALID");
    provideApp(undefined);
  });

  it("without admin consent the token has no roles, and the check says so for every permission", async () => {
    const { s, tenant } = await school([]);
    const r = await checkTenant(s.app, tenant.tenantId);
    expect(r.roles).toEqual([]);
    expect(r.checks.every((c) => !c.granted)).toBe(true);
    expect(r.checks.filter((c) => c.result !== "notTried").every((c) => c.result === "denied")).toBe(true);
  });

  it("a tenant Entra does not know is AUTH_TENANT_NOT_FOUND, as in a run, and no consent link is offered", async () => {
    const s = stackOf();
    const tenantId = randomUUID();
    await addTenant(s.app, { tenantId, clientId: randomUUID(), displayName: "Nowhere School" });
    await setTenantSecret(s.app, tenantId, "a-secret-value-for-nowhere", new Date(Date.now() + 90 * 86_400_000));
    const r = await checkTenant(s.app, tenantId);
    expect(r.ok).toBe(false);
    expect(r.tokenError?.code).toBe("AUTH_TENANT_NOT_FOUND");
    const c = await cli(["tenant", "check", tenantId]);
    expect(c.code).toBe(1);
    expect(c.out).toContain("AUTH_TENANT_NOT_FOUND");
    expect(c.out).not.toContain("Missing consent");
    expect(c.out + c.err).not.toContain("a-secret-value-for-nowhere");
  });
});
