import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { formatReport } from "../../src/cli/format.js";
import { getPlan } from "../../src/functions/api.js";
import { newReport } from "../../src/runs/report.js";
import { createRun } from "../../src/runs/execute.js";
import { useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();

function io(stdin = ""): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), readStdin: async () => stdin, isTTY: false };
}

async function cli(args: string[], stdin = "") {
  const s = stackOf();
  const o = io(stdin);
  const code = await runCli(args, o, () => s.app);
  return { code, out: o.stdout.join("\n"), err: o.stderr.join("\n") };
}

describe("entra-sync CLI", () => {
  it("registers a tenant, stores its secret from stdin, imports users and runs it", async () => {
    const s = stackOf();
    const t = s.sim.control.createTenant({ displayName: "Norrskolan", initialDomain: "norr.onmicrosoft.com" });
    const a = s.sim.control.createApp(t.id, { roles: ["User.Read.All", "Domain.Read.All"] });
    const secret = s.sim.control.addSecret(t.id, a.clientId, { endDateTime: new Date(Date.now() + 200 * 86_400_000) });
    const ids = s.sim.control.addUsers(t.id, [{ userPrincipalName: "a@norr.onmicrosoft.com", city: "Kiruna" }, { userPrincipalName: "b@norr.onmicrosoft.com" }]).map((u) => u.id);

    let r = await cli(["tenant", "add", "--tenant-id", t.id.toUpperCase(), "--client-id", a.clientId, "--name", "Norrskolan", "--admin-email", "it@norr.se", "--locale", "sv"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/Registered Norrskolan/);

    const expires = new Date(Date.now() + 200 * 86_400_000).toISOString().slice(0, 10);
    r = await cli(["secret", "set", "--tenant", t.id, "--expires", expires, "--from-stdin"], `${secret.value}\n`);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`expires ${expires}`);
    expect(r.out + r.err).not.toContain(secret.value);

    const dir = mkdtempSync(path.join(tmpdir(), "es-cli-"));
    const csv = path.join(dir, "users.csv");
    writeFileSync(csv, `id,externalId,userName,city\nu1,${ids[0]},a@norr.onmicrosoft.com,Luleå\nu2,${ids[1]},b@norr.onmicrosoft.com,\n`);
    r = await cli(["users", "import", csv, "--tenant", t.id]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/Imported 2 platform users.*2 created/);

    r = await cli(["run", "--tenant", t.id, "--json"]);
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.status).toBe("succeeded"); // User.Read.All and Domain.Read.All are all a preview needs
    expect(report.update).toMatchObject({ read: 2, matched: 2 });
    expect((await s.app.directory.get(t.id, "u1"))?.city).toBe("Kiruna");

    r = await cli(["tenant", "list", "--json"]);
    expect((JSON.parse(r.out) as Array<{ tenantId: string }>).map((x) => x.tenantId)).toContain(t.id);
    r = await cli(["tenant", "update", t.id, "--link-by", "userPrincipalName:userName", "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).linking).toEqual({ entra: "userPrincipalName", platform: "userName" });
    r = await cli(["tenant", "show", t.id, "--json"]);
    expect(JSON.parse(r.out).locale).toBe("sv");
  });

  it("sets single Immutable ID options on add and update, keeping the others", async () => {
    const id = randomUUID();
    let r = await cli(["tenant", "add", "--tenant-id", id, "--client-id", randomUUID(), "--name", "Iid", "--immutable-id-mode", "off", "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).immutableId).toMatchObject({ mode: "off", source: "id", encoding: "base64" });
    r = await cli(["tenant", "update", id, "--immutable-id-max-writes", "50", "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).immutableId).toMatchObject({ mode: "off", maxWritesPerRun: 50 });
    r = await cli(["tenant", "update", id, "--immutable-id-mode", "on", "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).immutableId).toMatchObject({ mode: "on", maxWritesPerRun: 50 });
  });

  it("status shows the secret's expiry right after secret set", async () => {
    const id = randomUUID();
    expect((await cli(["tenant", "add", "--tenant-id", id, "--client-id", randomUUID(), "--name", "Fresh"])).code).toBe(0);
    const expires = new Date(Date.now() + 120 * 86_400_000).toISOString().slice(0, 10);
    const r = await cli(["secret", "set", "--tenant", id, "--expires", expires, "--from-stdin"], "a-fresh-secret-value-123");
    expect(r.code, r.err).toBe(0);
    const [status] = JSON.parse((await cli(["status", "--tenant", id, "--json"])).out);
    expect(status.secret).toMatchObject({ expiresOn: `${expires}T23:59:59.000Z`, source: "keyVault" });
  });

  it("plan of a queued run says it has no plan yet (PLAN_NOT_FOUND, exit 2; 404 from the API)", async () => {
    const s = stackOf();
    const id = randomUUID();
    expect((await cli(["tenant", "add", "--tenant-id", id, "--client-id", randomUUID(), "--name", "Queued"])).code).toBe(0);
    const run = await createRun(s.app, { tenantId: id, trigger: "manual", mode: "incremental", dryRun: false });
    const r = await cli(["plan", "--tenant", id, "--run", run.runId]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error PLAN_NOT_FOUND: .*has not planned yet/);
    expect(r.out).not.toMatch(/user\(s\)/);
    const api = await getPlan(s.app, id, run.runId, null);
    expect(api.status).toBe(404);
    expect(JSON.stringify(api.body)).toContain("PLAN_NOT_FOUND");
  });

  it("secret set and users import take --json (no secret in it); a report says 1 request, 2 requests", async () => {
    const id = randomUUID();
    expect((await cli(["tenant", "add", "--tenant-id", id, "--client-id", randomUUID(), "--name", "Json"])).code).toBe(0);
    const r = await cli(["secret", "set", "--tenant", id, "--expires", "2027-01-31", "--from-stdin", "--json"], "a-json-secret-value-123");
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ tenantId: id, expiresOn: "2027-01-31T23:59:59.000Z" });
    expect(r.out + r.err).not.toContain("a-json-secret-value-123");
    const dir = mkdtempSync(path.join(tmpdir(), "es-cli-"));
    writeFileSync(path.join(dir, "u.csv"), "id,userName\nu1,a@x.example\n");
    const imp = await cli(["users", "import", path.join(dir, "u.csv"), "--tenant", id, "--json"]);
    expect(imp.code, imp.err).toBe(0);
    expect(JSON.parse(imp.out)).toMatchObject({ imported: 1, created: 1 });

    const report = newReport({ runId: "r", tenantId: id, tenantName: "Json", trigger: "manual", mode: "full", dryRun: false, now: new Date() });
    report.graph.requests = 1;
    expect(formatReport(report)).toContain("graph: 1 request, ");
    report.graph.requests = 2;
    expect(formatReport(report)).toContain("graph: 2 requests, ");
  });

  it.each([
    [["tenant", "add", "--tenant-id", "contoso.onmicrosoft.com", "--client-id", randomUUID(), "--name", "X"], /tenantId must be a GUID/],
    [["tenant", "add", "--tenant-id", randomUUID(), "--client-id", "nope", "--name", "X"], /clientId must be a GUID/],
    [["tenant", "add", "--tenant-id", randomUUID(), "--client-id", randomUUID(), "--name", "X", "--mapping", '{"userName":["surname"],"email":[],"idpIdentifier":[],"eppn":[],"ssn":[],"birthDate":false}'], /"surname" is not a source mapping.userName can use; allowed: userPrincipalName, mail, otherMails/],
    [["tenant", "show", randomUUID()], /is not registered/],
    [["secret", "set", "--tenant", randomUUID(), "--expires", "2027-01-01", "--from-stdin"], /is not registered/],
    [["secret", "set", "--tenant", randomUUID(), "--expires", "soon", "--from-stdin"], /--expires must be a date/],
    [["run", "--tenant", "not-a-guid"], /tenant must be a GUID/],
  ])("bad input %j gives one clear error and exit code 2", async (args, message) => {
    const r = await cli(args as string[], "abcdefghijklmnopqrstuvwxyz~1234567890");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("with --json an error is one JSON line with its code and message", async () => {
    const tenantId = randomUUID();
    const r = await cli(["tenant", "show", tenantId, "--json"]);
    expect(r.code).toBe(2);
    const lines = r.err.split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    const body = JSON.parse(lines[0]!) as { error: { code: string; message: string } };
    expect(body.error.code).toMatch(/^[A-Z_]+$/);
    expect(body.error.message).toContain(tenantId);
  });

  it("a secret that is a Secret ID (GUID) is refused; an unreadable or bad import file imports nothing", async () => {
    const s = stackOf();
    const tenantId = randomUUID();
    expect((await cli(["tenant", "add", "--tenant-id", tenantId, "--client-id", randomUUID(), "--name", "Y"])).code).toBe(0);
    let r = await cli(["secret", "set", "--tenant", tenantId, "--expires", new Date(Date.now() + 86_400_000 * 30).toISOString().slice(0, 10), "--from-stdin"], randomUUID());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Secret ID/);

    r = await cli(["users", "import", "/nonexistent/users.csv", "--tenant", tenantId]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Cannot read \/nonexistent\/users.csv/);

    const dir = mkdtempSync(path.join(tmpdir(), "es-cli-"));
    const bad = path.join(dir, "users.json");
    writeFileSync(bad, JSON.stringify([{ id: "ok1", userName: "a@b.se" }, { id: "ok2", shoeSize: "44" }]));
    r = await cli(["users", "import", bad, "--tenant", tenantId]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/user 2.*shoeSize|user 2.*Unrecognized/i);
    expect(r.err).toMatch(/Nothing was imported/);
    const left = [];
    for await (const u of s.app.directory.list(tenantId)) left.push(u);
    expect(left).toHaveLength(0);
  });
});
