import azureFunctions from "@azure/functions";
import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { provideApp } from "../../src/functions/app.js";
import { listAuditHandler } from "../../src/functions/listAudit.js";
import { createRun, executeRun } from "../../src/runs/execute.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import type { LocalStack } from "../../dev/stack.js";

const { HttpRequest, InvocationContext } = azureFunctions;
const stackOf = useLocalStack();
const ctx = () => new InvocationContext({ functionName: "test", logHandler: () => {} });
const get = (tenantId: string, query = "") => listAuditHandler(new HttpRequest({ method: "GET", url: `http://localhost/api/tenants/${tenantId}/audit${query}`, params: { tenantId } }), ctx());

async function cli(stack: LocalStack, args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), readStdin: async () => "", isTTY: false };
  const code = await runCli(args, io, () => stack.app);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("audit log through the API and the CLI", () => {
  it("lists per tenant, user, run and time; pages with continuation; CSV one line per change; 400/404 as documented", async () => {
    const stack = stackOf();
    provideApp(stack.app);
    const d = simpleDirectory(6);
    // Up to date but for four users' city and first name.
    for (const p of d.platformUsers) Object.assign(p, { eppn: p.email, idpIdentifier: p.userName });
    const { tenant } = await onboard(stack, { users: d.users, platformUsers: d.platformUsers.map((p, i) => (i < 4 ? { ...p, city: "=HYPERLINK(1)", firstName: "Old" } : p)) });
    const r = await createRun(stack.app, { tenantId: tenant.tenantId, trigger: "manual", mode: "full", dryRun: false, only: ["update"] });
    const report = (await executeRun(stack.app, tenant.tenantId, r.runId)).report;
    expect(report.update.updated).toBe(4);

    const all = await get(tenant.tenantId, `?run=${report.runId}`);
    expect(all.status).toBe(200);
    const body = all.jsonBody as { tenantId: string; entries: Array<{ userId: string; runId: string; changes: unknown[] }>; continuation?: string };
    expect(body.entries).toHaveLength(report.update.updated);
    expect(body.continuation).toBeUndefined();

    const first = (await get(tenant.tenantId, "?limit=3")).jsonBody as typeof body;
    expect(first.entries).toHaveLength(3);
    expect(first.continuation).toBeTruthy();
    const rest = (await get(tenant.tenantId, `?limit=3&continuation=${encodeURIComponent(first.continuation!)}`)).jsonBody as typeof body;
    expect(rest.entries).toHaveLength(1);
    expect(new Set([...first.entries, ...rest.entries].map((e) => e.userId))).toEqual(new Set(["p-0", "p-1", "p-2", "p-3"]));

    const one = (await get(tenant.tenantId, "?user=p-2")).jsonBody as typeof body;
    expect(one.entries.map((e) => e.userId)).toEqual(["p-2"]);
    const future = (await get(tenant.tenantId, `?since=${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}`)).jsonBody as typeof body;
    expect(future.entries).toEqual([]);

    const csv = await get(tenant.tenantId, `?format=csv&user=p-0`);
    expect((csv.headers as Record<string, string>)["Content-Type"]).toContain("text/csv");
    const lines = parse(String(csv.body), { columns: true }) as Array<Record<string, string>>;
    expect(lines.map((l) => [l.user, l.attribute, l.old, l.new])).toEqual([
      ["p-0", "city", "'=HYPERLINK(1)", "Lund"],
      ["p-0", "firstName", "Old", "Given0"],
    ]);

    expect((await get("nope")).status).toBe(400);
    expect((await get(tenant.tenantId, "?since=soon")).status).toBe(400);
    expect(((await get(tenant.tenantId, "?format=xml")).jsonBody as { error: { field: string } }).error.field).toBe("format");
    expect((await get("0b5d2c1e-1111-4222-8333-944444444444")).status).toBe(404);

    const c = await cli(stack, ["audit", "--tenant", tenant.tenantId, "--user", d.users[1]!.id]);
    expect(c.code).toBe(0);
    expect(c.out).toContain("p-1");
    expect(c.out).toContain("Old → Given1");
    expect(c.out).toContain("1 entry.");
    const j = await cli(stack, ["audit", "--tenant", tenant.tenantId, "--json", "--limit", "2", "--all"]);
    expect(j.out.split("\n")).toHaveLength(1);
    expect((JSON.parse(j.out) as Array<{ runId: string }>).filter((e) => e.runId === report.runId)).toHaveLength(4);
    const bad = await cli(stack, ["audit", "--tenant", tenant.tenantId, "--since", "tomorrow"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("since");
  });
});
