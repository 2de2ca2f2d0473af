import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildCli } from "../../src/cli/main.js";
import { createRun } from "../../src/runs/execute.js";
import { startRun } from "../../src/runs/start.js";
import { cliProcess } from "../support/cli-process.js";
import { onboard, simpleDirectory, useLocalStack } from "../support/stack.js";
import { cliInProcess } from "../support/cli-local.js";

const stackOf = useLocalStack();
/** The real entry in a process of its own (a few seconds each: used where the process boundary matters). */
const cli = (args: string[], stdin = "") => cliProcess(stackOf(), args, stdin);
/** The same entry function in this process, on the stack's app. */
const local = cliInProcess(() => stackOf().app);

function leaves(c: Command, prefix: string[] = []): Array<{ path: string; cmd: Command }> {
  const here = [...prefix, c.name()];
  if (c.commands.length === 0) return [{ path: here.slice(1).join(" "), cmd: c }];
  return c.commands.flatMap((s) => leaves(s, here));
}

/** The `--json` help of a leaf command ("" when it has none). */
const jsonHelp = (cmd: Command) => cmd.options.find((o) => o.long === "--json")?.description ?? "";

/**
 * Whether a leaf command lists things, from what it says of itself: its --json help names an array or lines, or its
 * name or description is a listing's. Each one found must have a case in `LISTS` below.
 */
const looksLikeList = (cmd: Command) =>
  /\b(array|lines)\b/i.test(jsonHelp(cmd)) || ["list", "status", "audit", "runs", "expiry", "plan"].includes(cmd.name()) || /^(list|every|each)\b|newest first/i.test(cmd.description());

describe("the CLI keeps its word (through its real entry)", () => {
  it("every command takes --json", () => {
    const program = buildCli(() => {
      throw new Error("not needed");
    }, { out: () => {}, err: () => {}, readStdin: async () => "", isTTY: false });
    const missing = leaves(program).filter((l) => !l.cmd.options.some((o) => o.long === "--json")).map((l) => l.path);
    expect(missing).toEqual([]);
  });

  it("every list command, found by walking the command tree, prints one JSON array (not JSON lines)", async () => {
    const s = stackOf();
    const d = simpleDirectory(3);
    const { tenant } = await onboard(s, { users: d.users, platformUsers: d.platformUsers, registration: { immutableId: { mode: "preview" } } });
    const t = tenant.tenantId;
    expect((await local(["tenant", "add", "--tenant-id", randomUUID(), "--client-id", randomUUID(), "--name", "Second"])).code).toBe(0);
    // Two of everything a list command lists: runs (each plans ImmutableIds in preview), audit entries, SCIM tokens and writes.
    for (let i = 0; i < 2; i++) expect((await local(["run", "--tenant", t, "--json"])).code).toBe(0);
    const [run] = await s.app.runs.list(t, 1);
    const at = s.app.clock().toISOString();
    await s.app.audit.record(t, [0, 1].map((i) => ({ at, tenantId: t, source: "import" as const, target: "platform" as const, userId: `p-${i}`, changes: [{ attribute: "city", old: "Lund", new: "Malmö" }], outcome: "applied" as const })));
    await s.app.scimTokens.create(t);
    const second = await s.app.scimTokens.rotate(t);
    for (const op of ["create", "update"]) await s.app.scimAudit.record({ tenantId: t, at, tokenId: second.info.tokenId, operation: op, resource: "User", resourceId: "p-0", attributes: ["name.givenName"], status: 200 });
    const dir = mkdtempSync(path.join(tmpdir(), "es-lists-"));
    writeFileSync(path.join(dir, "fleet.csv"), `tenantId,clientId,name\n${randomUUID()},${randomUUID()},A\n${randomUUID()},${randomUUID()},B\n`);

    const LISTS: Record<string, string[]> = {
      "tenant list": [],
      "tenant import": [path.join(dir, "fleet.csv")],
      status: [],
      runs: ["--tenant", t],
      expiry: [],
      plan: ["--tenant", t, "--run", run!.runId],
      audit: ["--tenant", t],
      "scim token list": ["--tenant", t],
      "scim audit": ["--tenant", t],
      "notifications status": [],
    };
    const program = buildCli(() => s.app, { out: () => {}, err: () => {}, readStdin: async () => "", isTTY: false });
    const found = leaves(program).filter((l) => looksLikeList(l.cmd));
    expect(found.map((l) => l.path).filter((p) => !(p in LISTS)), "list commands without a case here").toEqual([]);
    expect(found.filter((l) => /\blines\b/i.test(jsonHelp(l.cmd))).map((l) => l.path), "--json help promising JSON lines").toEqual([]);
    for (const [cmd, args] of Object.entries(LISTS)) {
      const r = await local([...cmd.split(" "), ...args, "--json"]);
      expect(r.code, `${cmd}: ${r.err}`).toBe(0);
      expect(r.out.split("\n"), cmd).toHaveLength(1);
      const list = JSON.parse(r.out) as unknown;
      expect(Array.isArray(list), cmd).toBe(true);
      expect((list as unknown[]).length, cmd).toBeGreaterThanOrEqual(2);
    }
  });

  it("tenant update merges partial options: preview → on keeps source and caps; list commands print one JSON array", async () => {
    const s = stackOf();
    const id = randomUUID();
    let r = await local(["tenant", "add", "--tenant-id", id, "--client-id", randomUUID(), "--name", "Partial", "--immutable-id-source", "email", "--immutable-id-max-writes", "40"]);
    expect(r.code, r.err).toBe(0);
    r = await cli(["tenant", "update", id, "--immutable-id-mode", "on", "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).immutableId).toMatchObject({ mode: "on", source: "email", maxWritesPerRun: 40, encoding: "base64" });

    for (const args of [["tenant", "list"], ["status"], ["expiry"], ["runs", "--tenant", id]]) {
      if (args[0] === "runs") await createRun(s.app, { tenantId: id, trigger: "manual", mode: "incremental", dryRun: true });
      r = args[0] === "tenant" ? await cli([...args, "--json"]) : await local([...args, "--json"]);
      expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(0);
      expect(r.out.split("\n"), args.join(" ")).toHaveLength(1);
      const list = JSON.parse(r.out) as unknown[];
      expect(Array.isArray(list), args.join(" ")).toBe(true);
      expect(list.length, args.join(" ")).toBeGreaterThan(0);
    }
  });

  it("a missing option is an `error INPUT_INVALID:` line (exit 2); a run under way is a conflict (exit 3)", async () => {
    const s = stackOf();
    let r = await cli(["run"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error INPUT_INVALID: Required option '--tenant <guid>' not specified\./);
    expect(r.err.split("\n")).toHaveLength(1);
    r = await local(["runs", "--json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: "INPUT_INVALID", message: expect.stringContaining("--tenant") } });

    const id = randomUUID();
    expect((await local(["tenant", "add", "--tenant-id", id, "--client-id", randomUUID(), "--name", "Busy"])).code).toBe(0);
    const { report: active } = await startRun(s.app, { tenantId: id, trigger: "manual", mode: "incremental", dryRun: false });
    r = await cli(["run", "--tenant", id]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(new RegExp(`^error RUN_IN_PROGRESS: .*${active.runId}`));
  });

  it("users import reads ;-separated files, lists its columns in --help and refuses an empty file", async () => {
    const s = stackOf();
    const id = randomUUID();
    expect((await local(["tenant", "add", "--tenant-id", id, "--client-id", randomUUID(), "--name", "Semikolon"])).code).toBe(0);
    const dir = mkdtempSync(path.join(tmpdir(), "es-import-"));
    writeFileSync(path.join(dir, "excel.csv"), "\uFEFFid;userName;city;address\r\nu1;a@skola.se;Malmö;Storgatan 1, 2 tr\r\nu2;b@skola.se;Lund;\r\n");
    let r = await cli(["users", "import", path.join(dir, "excel.csv"), "--tenant", id, "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ imported: 2, created: 2 });
    expect(await s.app.directory.get(id, "u1")).toMatchObject({ userName: "a@skola.se", city: "Malmö", address: "Storgatan 1, 2 tr" });

    for (const [name, body] of [["empty.csv", ""], ["header-only.csv", "id;userName\r\n"], ["empty.json", "[]"]] as const) {
      writeFileSync(path.join(dir, name), body);
      r = await local(["users", "import", path.join(dir, name), "--tenant", id]);
      expect(r.code, name).toBe(2);
      expect(r.err, name).toMatch(/^error INPUT_INVALID: .* holds no users: .*Nothing was imported\.$/);
    }

    r = await local(["users", "import", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Columns .*: id \(required\), externalId, userName, email/);
  });
});
