import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { processSyncJob } from "../../src/runs/worker.js";
import { startRun } from "../../src/runs/start.js";
import { importTenants, type ImportProgress, type RemoveResult } from "../../src/tenants/fleet.js";
import { cliProcess } from "../support/cli-process.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { cliInProcess } from "../support/cli-local.js";

const stackOf = useLocalStack();

const local = cliInProcess(() => stackOf().app);

describe("onboarding and offboarding a fleet", () => {
  it("tenant import: validated whole before anything is written; prints each admin-consent URL and checks each tenant", async () => {
    const s = stackOf();
    const dir = mkdtempSync(path.join(tmpdir(), "es-fleet-"));
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const header = "tenantId;clientId;name;adminEmails;locale;cloud;linkBy;immutableIdMode;interval";
    const good = [header, `${a};${randomUUID()};Norrskolan;it@norr.se ops@norr.se;sv;global;userPrincipalName:userName;off;10`, `${b};${randomUUID()};Söderskolan;;en;usgov;;;`].join("\r\n");

    // A bad row: nothing at all is registered, the row and column are named.
    writeFileSync(path.join(dir, "bad.csv"), `${good}\r\n${c};nope;Västerskolan;;;;;;`);
    let r = await local(["tenant", "import", path.join(dir, "bad.csv")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error INPUT_INVALID: .*bad\.csv, line 4: clientId must be a GUID.*\. Nothing was registered\.$/);
    expect(await s.app.tenants.get(a)).toBeUndefined();

    // A tenant already registered: nothing is registered either.
    await s.app.tenants.add({ tenantId: c, clientId: randomUUID(), displayName: "Already" });
    writeFileSync(path.join(dir, "dup.csv"), `${good}\r\n${c};${randomUUID()};Västerskolan;;;;;;`);
    r = await local(["tenant", "import", path.join(dir, "dup.csv")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`already registered \\(${c}\\).*Nothing was registered`));
    expect(await s.app.tenants.get(a)).toBeUndefined();

    writeFileSync(path.join(dir, "fleet.csv"), good);
    const ok = await cliProcess(s, ["tenant", "import", path.join(dir, "fleet.csv")]);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/Registered 2 tenant\(s\)/);
    // Progress on stderr, each stage to its end.
    expect(ok.err).toMatch(/tenant import: registered 2 \/ 2\n[^]*tenant import: checked 2 \/ 2$/m);
    expect(ok.out).toContain(`https://login.microsoftonline.com/${a}/adminconsent?client_id=`);
    expect(ok.out).toContain(`https://login.microsoftonline.us/${b}/adminconsent?client_id=`);
    expect(ok.out).toMatch(/check:\s+SECRET_MISSING/);
    expect(await s.app.tenants.require(a)).toMatchObject({ displayName: "Norrskolan", adminEmails: ["it@norr.se", "ops@norr.se"], locale: "sv", linking: { entra: "userPrincipalName", platform: "userName" }, immutableId: { mode: "off" }, syncIntervalMinutes: 10 });
    expect(await s.app.tenants.require(b)).toMatchObject({ cloud: "usgov", immutableId: { mode: "preview" } });

    writeFileSync(path.join(dir, "empty.csv"), `${header}\r\n`);
    r = await local(["tenant", "import", path.join(dir, "empty.csv"), "--json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.err).error.message).toMatch(/holds no tenants/);
  });

  it("tenant import of many: progress for every transaction and every check, the tenants in the file's order", async () => {
    const s = stackOf();
    const dir = mkdtempSync(path.join(tmpdir(), "es-fleet-"));
    const ids = Array.from({ length: 12 }, () => randomUUID());
    writeFileSync(path.join(dir, "many.csv"), ["tenantId,clientId,name", ...ids.map((id, i) => `${id},${randomUUID()},School ${i}`)].join("\n"));
    const seen: ImportProgress[] = [];
    const rows = await importTenants(s.app, path.join(dir, "many.csv"), { onProgress: (p) => seen.push(p) });
    expect(rows.map((r) => r.tenant.tenantId)).toEqual(ids);
    expect(rows.every((r) => r.check?.tokenError?.code === "SECRET_MISSING")).toBe(true);
    expect(seen.filter((p) => p.stage === "registered").at(-1)).toEqual({ stage: "registered", done: 12, total: 12 });
    expect(seen.filter((p) => p.stage === "checked").map((p) => p.done)).toEqual(ids.map((_, i) => i + 1));
    expect(seen.findIndex((p) => p.stage === "checked")).toBeGreaterThan(seen.findLastIndex((p) => p.stage === "registered"));
  });

  it("tenant remove disables; --purge deletes every copy of the tenant's data and keeps the platform users, unlinked", async () => {
    const s = stackOf();
    const { users, platformUsers } = simpleDirectory(3);
    const { tenant } = await onboard(s, { users, platformUsers });
    const id = tenant.tenantId;
    expect((await local(["run", "--tenant", id])).code).toBe(0);
    await s.app.scimTokens.create(id);
    await s.app.holds.put(id, "held-run-of-purged", new Date().toISOString());
    const other = await onboard(s, simpleDirectory(2));
    await s.app.holds.put(other.tenant.tenantId, "held-run-of-other", new Date().toISOString());
    expect((await local(["run", "--tenant", other.tenant.tenantId])).code).toBe(0);

    let r = await local(["tenant", "remove", id]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/disabled\./);
    expect((await s.app.tenants.require(id)).enabled).toBe(false);
    expect((await s.app.runs.list(id, 10)).length).toBeGreaterThan(0);

    r = await local(["tenant", "remove", id, "--purge", "--json"]);
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out) as RemoveResult;
    expect(res).toMatchObject({ disabled: true, purged: true, platformUsersUnlinked: 3 });
    expect(res.deleted).toMatchObject({ keyVaultSecret: 1, tenants: 1, runs: expect.any(Number), connectorspace: expect.any(Number), tenantstate: expect.any(Number), scimtokens: 1 });
    expect(res.deleted.connectorspace).toBeGreaterThanOrEqual(3);
    expect(res.deleted.audit).toBeGreaterThan(0);
    expect((await s.app.audit.list({ tenantId: id, limit: 10 })).entries).toEqual([]);

    expect(await s.app.tenants.get(id)).toBeUndefined();
    await expect(s.app.secrets.get(id)).rejects.toMatchObject({ code: "SECRET_MISSING" });
    expect(await s.app.runs.list(id, 10)).toEqual([]);
    expect(await s.app.checkpoints.get(id, "main")).toBeUndefined();
    const rows = [];
    for await (const row of s.app.connector.list(id)) rows.push(row);
    expect(rows).toEqual([]);
    expect(await s.app.scimTokens.list(id)).toEqual([]);
    expect(await s.app.holds.tenantOf("held-run-of-purged")).toBeUndefined();
    expect(await s.app.holds.tenantOf("held-run-of-other")).toBe(other.tenant.tenantId);
    const kept = [];
    for await (const u of s.app.directory.list(id)) kept.push(u);
    expect(kept.map((u) => u.id).sort()).toEqual(platformUsers.map((u) => u.id).sort());
    expect(kept.every((u) => u.externalId === undefined && u.entraRemovedAt === undefined)).toBe(true);

    // The other tenant is untouched.
    expect((await s.app.runs.list(other.tenant.tenantId, 10)).length).toBe(1);
    expect(await s.app.checkpoints.get(other.tenant.tenantId, "main")).toBeDefined();
  });
  it("tenant remove --purge while a run of the tenant is queued: refused as a conflict (exit 3), nothing deleted; once it has ended, the purge goes through", async () => {
    const s = stackOf();
    const { tenant } = await onboard(s, simpleDirectory(2));
    const id = tenant.tenantId;
    const { report: queued } = await startRun(s.app, { tenantId: id, trigger: "schedule", mode: "incremental", dryRun: false });
    let r = await local(["tenant", "remove", id, "--purge"]);
    expect(r.code, r.err).toBe(3);
    expect(r.err).toMatch(new RegExp(`^error RUN_IN_PROGRESS: .*${queued.runId}.*tenant remove ${id} --purge`));
    // Disabled (no scheduled run starts), but nothing is deleted under the run's feet.
    expect((await s.app.tenants.require(id)).enabled).toBe(false);
    expect(await s.app.runs.get(id, queued.runId)).toBeDefined();
    await expect(s.app.secrets.get(id)).resolves.toBeDefined();

    // The worker takes the queued job (the run of a tenant disabled meanwhile ends at once) and releases the lease.
    await processSyncJob(s.app, { tenantId: id, runId: queued.runId, continuation: 0 });
    expect((await s.app.runs.get(id, queued.runId))?.status).not.toMatch(/queued|running/);
    r = await local(["tenant", "remove", id, "--purge"]);
    expect(r.code, r.err).toBe(0);
    expect(await s.app.runs.list(id, 10)).toEqual([]);
    expect(await s.app.leases.get(id)).toBeUndefined();
  });
});
