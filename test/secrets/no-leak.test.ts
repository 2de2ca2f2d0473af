import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { QueueServiceClient } from "@azure/storage-queue";
import { TableClient, TableServiceClient } from "@azure/data-tables";
import azureFunctions from "@azure/functions";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { provideApp } from "../../src/functions/app.js";
import { getRunHandler } from "../../src/functions/getRun.js";
import { listRunsHandler } from "../../src/functions/listRuns.js";
import { listTenantsHandler } from "../../src/functions/listTenants.js";
import { startRunHandler } from "../../src/functions/startRun.js";
import { redactingLogger } from "../../src/log.js";
import { processSyncJob } from "../../src/runs/worker.js";
import { setTenantSecret } from "../../src/tenants/onboarding.js";
import type { EchoForm, FaultSpec } from "../../dev/simulator/faults.js";
import { drainQueue } from "../runs/helpers.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { views } from "../support/leaks.js";
import { signIn } from "../../src/ui/access.js";
import { runView, tenantsView, tenantView, type UiRequest } from "../../src/ui/status-page.js";

const { HttpRequest, InvocationContext } = azureFunctions;
// What the Functions host gets: the app's own logger, which masks (src/functions/app.ts builds the same).
const logLines: string[] = [];
const log = redactingLogger({ info: (l) => logLines.push(l), warn: (l) => logLines.push(l), error: (l) => logLines.push(l) });
// A folder of its own, so that the outbox scanned below holds this test's mails only.
const workDir = `.local/test-secrets-${process.pid}`;
const stackOf = useLocalStack({ log, workDir });
afterAll(() => rmSync(workDir, { recursive: true, force: true }));
const ctx = () => new InvocationContext({ functionName: "test", logHandler: (_level, ...a) => logLines.push(a.map(String).join(" ")) });
const req = (method: string, params: Record<string, string>, body?: string) =>
  new HttpRequest({ method, url: "http://localhost/api/tenants", params, headers: {}, ...(body === undefined ? {} : { body: { string: body } }) });

const FORMS: EchoForm[] = ["plain", "form", "base64", "base64url", "base64mime", "json", "split"];
/** An access token, whatever its source, is a JWT: three base64url parts, the first two JSON objects. */
const JWT = /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}/;

describe("no secret in any report, row, response, log or mail", () => {
  it("token endpoint, Graph and Key Vault echo the secret in every encoding: every surface stays clean", async () => {
    const stack = stackOf();
    const { app, sim } = stack;
    provideApp(app);
    const { users, platformUsers } = simpleDirectory(2);
    const { tenant } = await onboard(stack, { users, platformUsers, registration: { adminEmails: ["it@school.example"] } });
    const id = tenant.tenantId;
    // Shaped like a real Entra secret, with the `~` that form encoding turns into %7E.
    const secret = `Zq8Q~${randomBytes(27).toString("base64url").replace(/[-_]/g, ".")}`;
    const expires = new Date(Date.now() + 90 * 86_400_000);
    sim.control.addSecret(id, tenant.clientId, { value: secret, endDateTime: expires });
    await setTenantSecret(app, id, secret, expires);
    const known = [secret, stack.sim.vaultIdentity.clientSecret];

    const cliOut: string[] = [];
    const io: CliIO = { out: (t) => cliOut.push(t), err: (t) => cliOut.push(t), readStdin: async () => `${secret}\n`, isTTY: false };
    const cli = (args: string[]) => runCli(args, io, () => app);
    const api: string[] = [];
    const runIds: string[] = [];
    const viaApi = async () => {
      const r = await startRunHandler(req("POST", { tenantId: id }, "{}"), ctx());
      api.push(JSON.stringify(r.jsonBody));
      for (const job of await drainQueue(app)) runIds.push(((await processSyncJob(app, job)) as { report?: { runId: string } }).report?.runId ?? "");
    };

    const faults: Array<Omit<FaultSpec, "status" | "echoAs">> = [
      { method: "POST", path: "/oauth2/v2.0/token", tenantId: id, echo: "client_secret" },
      { method: "GET", path: "/users/delta", tenantId: id, echo: "authorization" },
      { method: "GET", path: `/secrets/tenant-${id}`, echo: "authorization" },
    ];
    let n = 0;
    for (const f of faults) {
      for (const echoAs of FORMS) {
        sim.control.injectFault({ ...f, status: 400, echoAs });
        // Each failing run goes through another door: the CLI (text, JSON) and the API with the queue worker.
        if (n % 3 === 0) await cli(["run", "--tenant", id]);
        else if (n % 3 === 1) await cli(["run", "--tenant", id, "--json"]);
        else await viaApi();
        n++;
        sim.control.clearFaults();
      }
    }
    // A 17,000-character error that ends with the secret; Key Vault echoing the value of a secret being stored.
    sim.control.injectFault({ method: "POST", path: "/oauth2/v2.0/token", tenantId: id, status: 400, body: { error: "invalid_request", error_description: `${"x".repeat(17_000)} client_secret=${encodeURIComponent(secret)}` } });
    await viaApi();
    for (const echoAs of FORMS) {
      sim.control.injectFault({ method: "PUT", path: `/secrets/tenant-${id}`, status: 400, echo: "value", echoAs });
      await cli(["secret", "set", "--tenant", id, "--expires", expires.toISOString().slice(0, 10), "--from-stdin"]);
      sim.control.clearFaults();
    }
    process.exitCode = 0;

    // The runs happened and failed for the reasons injected (so the surfaces below hold the echoes' aftermath).
    const runs = (await app.runs.list(id, 100)).filter((r) => r.status === "failed");
    expect(runs.length).toBeGreaterThanOrEqual(FORMS.length * faults.length);

    // Every way out: CLI listings, the API, every table row and queue message, the mails, the logs.
    await cli(["runs", "--tenant", id, "--limit", "100", "--json"]);
    await cli(["runs", "--tenant", id, "--limit", "100"]);
    await cli(["status", "--json"]);
    await cli(["status"]);
    await cli(["tenant", "show", id]);
    for (const runId of runIds) api.push(JSON.stringify((await getRunHandler(req("GET", { tenantId: id, runId }), ctx())).jsonBody));
    api.push(JSON.stringify((await listRunsHandler(new HttpRequest({ method: "GET", url: "http://localhost/api/tenants/x/runs?limit=100", params: { tenantId: id } }), ctx())).jsonBody));
    api.push(JSON.stringify((await listTenantsHandler(req("GET", {}), ctx())).jsonBody));
    // The status page, signed in: the tenant list, the tenant's page and every run's page.
    const session = signIn(stack.settings, { header: () => null, secure: false }, stack.settings.statusPage.key!, new Date());
    if (!session.ok) throw new Error(session.reason);
    const cookie = session.setCookie.split(";")[0]!;
    const page = (p: string): UiRequest => ({ pathAndQuery: p, query: new URL(p, "http://localhost").searchParams, header: (n) => (n === "cookie" ? cookie : null), secure: false });
    const pages = [await tenantsView(stack.app, page("/api/ui")), await tenantView(stack.app, page(`/api/ui/tenants/${id}`), id)];
    for (const runId of runIds) pages.push(await runView(stack.app, page(`/api/ui/tenants/${id}/runs/${runId}`), id, runId));
    for (const p of pages) {
      expect(p.status).toBe(200);
      api.push(p.html!);
    }

    const rows: string[] = [];
    const conn = stack.env.AzureWebJobsStorage!;
    const service = TableServiceClient.fromConnectionString(conn, { allowInsecureConnection: true });
    const tables: string[] = [];
    for await (const t of service.listTables()) tables.push(t.name!);
    expect(tables.length).toBeGreaterThan(3);
    for (const name of tables) for await (const e of TableClient.fromConnectionString(conn, name, { allowInsecureConnection: true }).listEntities()) rows.push(`${name} ${JSON.stringify(e)}`);
    const queues = QueueServiceClient.fromConnectionString(conn);
    for await (const q of queues.listQueues()) for (const m of (await queues.getQueueClient(q.name).peekMessages({ numberOfMessages: 32 })).peekedMessageItems) rows.push(`${q.name} ${m.messageText}`);

    const outbox = stack.settings.mail.outboxDir;
    const mails = existsSync(outbox) ? readdirSync(outbox).map((f) => readFileSync(path.join(outbox, f), "utf8")) : [];

    const surfaces: Record<string, string[]> = { cli: cliOut, api, rows, mails, logs: logLines };
    const found: string[] = [];
    for (const [surface, texts] of Object.entries(surfaces)) {
      for (const text of texts) {
        const vs = views(text);
        for (const s of known) if (vs.some((v) => v.includes(s))) found.push(`${surface}: secret in ${text.slice(0, 300)}`);
        if (vs.some((v) => JWT.test(v))) found.push(`${surface}: access token in ${text.slice(0, 300)}`);
      }
    }
    expect(found).toEqual([]);
    // What an operator needs is still there: the code, and that the upstream service answered at all.
    expect(runs.map((r) => r.failure?.code)).not.toContain(undefined);
    expect(rows.length).toBeGreaterThan(10);
    expect(cliOut.join("\n")).toContain("[redacted]");
  });
});
