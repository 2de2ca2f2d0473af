import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildCli, runCli } from "../../src/cli/main.js";
import { createRun } from "../../src/runs/execute.js";
import { startRun } from "../../src/runs/start.js";
import { cliProcess } from "../support/cli-process.js";
import { useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();
/** The real entry in a process of its own (a few seconds each: used where the process boundary matters). */
const cli = (args: string[], stdin = "") => cliProcess(stackOf(), args, stdin);
/** The same entry function in this process, on the stack's app. */
async function local(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t), readStdin: async () => "", isTTY: false }, () => stackOf().app);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

function leaves(c: Command, prefix: string[] = []): Array<{ path: string; cmd: Command }> {
  const here = [...prefix, c.name()];
  if (c.commands.length === 0) return [{ path: here.slice(1).join(" "), cmd: c }];
  return c.commands.flatMap((s) => leaves(s, here));
}

describe("the CLI keeps its word (through its real entry)", () => {
  it("every command takes --json", () => {
    const program = buildCli(() => {
      throw new Error("not needed");
    }, { out: () => {}, err: () => {}, readStdin: async () => "", isTTY: false });
    const missing = leaves(program).filter((l) => !l.cmd.options.some((o) => o.long === "--json")).map((l) => l.path);
    expect(missing).toEqual([]);
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
