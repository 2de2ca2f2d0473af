import { randomUUID } from "node:crypto";
import { fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpHost, type HttpHost } from "../../dev/http-host.js";
import { provideApp } from "../../src/functions/app.js";
import type { OneUserResult } from "../../src/runs/one-user.js";
import { startRun } from "../../src/runs/start.js";
import { cliProcess } from "../support/cli-process.js";
import { onboard, useLocalStack } from "../support/stack.js";
import { cliInProcess } from "../support/cli-local.js";

const stackOf = useLocalStack();
let host: HttpHost;
beforeAll(async () => {
  provideApp(stackOf().app);
  host = await startHttpHost({ functionKey: "one-user-test-key-0123456789" });
});
afterAll(async () => {
  await host?.close();
  provideApp(undefined);
});

const local = cliInProcess(() => stackOf().app);

const api = (tenantId: string, user: string, body: unknown) =>
  fetch(`${host.url}/api/tenants/${tenantId}/users/${encodeURIComponent(user)}/sync`, { method: "POST", headers: { "x-functions-key": host.functionKey, "content-type": "application/json" }, body: JSON.stringify(body) });

/** A school: a linked user, one linkable by UPN, one without a platform user, one whose UPN two platform users share. */
async function school(o: { roles?: string[] } = {}) {
  const s = stackOf();
  const ids = Array.from({ length: 4 }, () => randomUUID());
  const upn = (i: number) => `elev${i}@school.onmicrosoft.com`;
  const { tenant } = await onboard(s, {
    users: ids.map((id, i) => ({ id, userPrincipalName: upn(i), givenName: `Elev${i}`, surname: "Svensson", mail: `elev${i}@skola.example`, city: "Lund" })),
    platformUsers: [
      { id: "p0", tenantId: "x", externalId: ids[0], userName: upn(0), firstName: "Elev0", lastName: "Svensson", email: "elev0@skola.example", city: "Lund" },
      { id: "p1", tenantId: "x", userName: upn(1), city: "Ystad" },
      { id: "p3a", tenantId: "x", userName: upn(3) },
      { id: "p3b", tenantId: "x", userName: upn(3) },
    ],
    registration: { linking: { entra: "userPrincipalName", platform: "userName" }, immutableId: { mode: "on" } },
    ...(o.roles ? { roles: o.roles } : {}),
  });
  return { tenant, ids, upn };
}

describe("one user on demand", () => {
  it("CLI (real entry): shows each step of a dry run, then writes both steps for that user; the delta checkpoint stays", async () => {
    const s = stackOf();
    const { tenant, ids, upn } = await school();
    expect((await local(["run", "--tenant", tenant.tenantId, "--only", "update"])).code).toBe(0);
    const checkpoint = await s.app.checkpoints.get(tenant.tenantId, "main");
    expect(checkpoint?.kind).toBe("delta");
    s.sim.control.updateUser(tenant.tenantId, ids[1]!, { city: "Malmö" });

    const dry = await cliProcess(s, ["run", "--tenant", tenant.tenantId, "--user", upn(1), "--dry-run"]);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toMatch(/1\. Entra values[\s\S]*city\s+Malmö/);
    expect(dry.out).toMatch(/2\. Mapping[\s\S]*userName\s+elev1@school\.onmicrosoft\.com\s+userPrincipalName\s+userPrincipalName › mail/);
    expect(dry.out).toMatch(/3\. Match: MATCHED → platform user p1\n/); // linked by the full run before
    expect(dry.out).toMatch(new RegExp(`externalId = id: ${ids[1]} → p1`));
    expect(dry.out).toMatch(/4\. Diff: 1 attribute\(s\)[\s\S]*city\s+Lund\s+Malmö/);
    expect(dry.out).toMatch(/5\. Immutable ID \(mode on\): write cDE=/); // base64 of "p1"
    expect(dry.out).toMatch(/DRY RUN/);
    expect((await s.app.directory.get(tenant.tenantId, "p1"))?.city).toBe("Lund");
    expect(s.sim.control.getUser(tenant.tenantId, ids[1]!)?.onPremisesImmutableId ?? null).toBeNull();

    const real = await local(["run", "--tenant", tenant.tenantId, "--user", ids[1]!, "--json"]);
    expect(real.code, real.err).toBe(0);
    const r = JSON.parse(real.out) as OneUserResult;
    expect(r).toMatchObject({ outcome: "updated", written: { platform: true, immutableId: true }, immutableId: { decision: "written", value: "cDE=" } });
    expect(r.diff).toEqual([{ attribute: "city", from: "Lund", to: "Malmö" }]);
    expect(await s.app.directory.get(tenant.tenantId, "p1")).toMatchObject({ city: "Malmö", externalId: ids[1] });
    expect(s.sim.control.getUser(tenant.tenantId, ids[1]!)?.onPremisesImmutableId).toBe("cDE=");
    expect(await s.app.checkpoints.get(tenant.tenantId, "main")).toEqual(checkpoint);
    // It is in the run history, as a run of its own.
    const runs = await s.app.runs.list(tenant.tenantId, 5);
    expect(runs.find((x) => x.runId === r.runId)).toMatchObject({ status: "succeeded", update: { read: 1, updated: 1 } });
  });

  it("says why a user is unmatched or ambiguous: the keys tried and the candidates found", async () => {
    const { tenant, ids, upn } = await school();
    const un = JSON.parse((await local(["run", "--tenant", tenant.tenantId, "--user", upn(2), "--json", "--dry-run"])).out) as OneUserResult;
    expect(un.match).toMatchObject({ result: "unmatched", keysTried: [{ key: "externalId = id", value: ids[2], candidates: [] }, { key: "userPrincipalName → userName", value: upn(2), candidates: [] }] });
    expect(un.match.why).toMatch(/No platform user has externalId/);
    expect(un.immutableId.decision).toBe("noPlatformMatch");
    const amb = await local(["run", "--tenant", tenant.tenantId, "--user", upn(3)]);
    expect(amb.code, amb.err).toBe(0);
    expect(amb.out).toMatch(/3\. Match: AMBIGUOUS/);
    expect(amb.out).toMatch(/userPrincipalName → userName: elev3@school\.onmicrosoft\.com → p3a, p3b/);
    expect(amb.out).toMatch(/nothing is guessed/);
  });

  it("API through the HTTP host: 200 with the steps, 404 for an unknown user, 409 while a run holds the tenant, 400 for a bad key", async () => {
    const s = stackOf();
    const { tenant, ids, upn } = await school();
    let res = await api(tenant.tenantId, upn(1), { dryRun: true });
    expect(res.status).toBe(200);
    const body = (await res.json()) as OneUserResult;
    expect(body).toMatchObject({ dryRun: true, match: { result: "matched", platformUserId: "p1", linked: true }, outcome: "updated", written: { platform: false, immutableId: false } });
    expect(body.match.keysTried).toEqual([{ key: "externalId = id", value: ids[1], candidates: [] }, { key: "userPrincipalName → userName", value: upn(1), candidates: ["p1"] }]);
    expect(body.diff).toEqual(expect.arrayContaining([{ attribute: "externalId", from: null, to: ids[1] }, { attribute: "city", from: "Ystad", to: "Lund" }]));
    expect(body.mapping.find((m) => m.attribute === "email")).toEqual({ attribute: "email", value: "elev1@skola.example", source: "mail", sources: ["mail", "otherMails"] });
    expect((await stackOf().app.directory.get(tenant.tenantId, "p1"))?.externalId).toBeUndefined();

    res = await api(tenant.tenantId, "nobody@school.onmicrosoft.com", {});
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("USER_NOT_FOUND");
    res = await api(tenant.tenantId, "not a user", {});
    expect(res.status).toBe(400);

    const { report: active } = await startRun(s.app, { tenantId: tenant.tenantId, trigger: "manual", mode: "incremental", dryRun: false });
    res = await api(tenant.tenantId, upn(0), {});
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: "RUN_IN_PROGRESS" }, activeRunId: active.runId });
    const cli = await local(["run", "--tenant", tenant.tenantId, "--user", upn(0)]);
    expect(cli.code).toBe(3);
    expect(cli.err).toMatch(/^error RUN_IN_PROGRESS/);
  });

  it("masks sensitive attributes as the audit log does: the SSN and a tenant's own sensitive attributes, in every step and the Entra property they come from", async () => {
    const s = stackOf();
    const id = randomUUID();
    const upn = "maskad@school.onmicrosoft.com";
    const { tenant } = await onboard(s, {
      users: [{ id, userPrincipalName: upn, givenName: "Maskad", surname: "Elev", city: "Malmö", onPremisesExtensionAttributes: { extensionAttribute1: "20111011-8704" } }],
      platformUsers: [{ id: "pm", tenantId: "x", externalId: id, userName: upn, firstName: "Maskad", lastName: "Elev", city: "Lund", ssn: "19991231-0000" }],
      registration: { mapping: { ssn: ["extensionAttribute1"] }, sensitiveAttributes: ["city"] },
    });
    const r = await api(tenant.tenantId, upn, { dryRun: true });
    expect(r.status).toBe(200);
    const body = (await r.json()) as OneUserResult;
    const text = JSON.stringify(body);
    for (const v of ["20111011-8704", "8704", "19991231-0000", "Malmö", "Lund"]) expect(text).not.toContain(v);
    expect(body.diff).toEqual(expect.arrayContaining([{ attribute: "ssn", from: "[masked]", to: "[masked]" }, { attribute: "city", from: "[masked]", to: "[masked]" }]));
    expect(body.mapping.find((m) => m.attribute === "ssn")).toMatchObject({ value: "[masked]", source: "extensionAttribute1" });
    expect(body.entra.onPremisesExtensionAttributes?.extensionAttribute1).toBe("[masked]");
    expect(body.entra.city).toBe("[masked]");
    expect(body.entra.givenName).toBe("Maskad");
    const cli = await local(["run", "--tenant", tenant.tenantId, "--user", upn]);
    expect(cli.code, cli.err).toBe(0);
    for (const v of ["8704", "19991231", "Malmö", "Lund"]) expect(cli.out).not.toContain(v);
    // Written all the same: the mask is only in what is shown.
    expect(await s.app.directory.get(tenant.tenantId, "pm")).toMatchObject({ ssn: "20111011-8704", city: "Malmö" });
  });

  it("needs User.Read.All for the GET (the simulator enforces it): the error names the permission", async () => {
    const { tenant, upn } = await school({ roles: ["Domain.Read.All"] });
    const r = await local(["run", "--tenant", tenant.tenantId, "--user", upn(0), "--json"]);
    expect(r.code).toBe(1);
    const err = JSON.parse(r.err) as { error: { code: string; message: string } };
    expect(err.error.code).toBe("AUTH_CONSENT_MISSING");
    expect(err.error.message).toContain("User.Read.All");
  });
});
