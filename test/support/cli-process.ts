import { spawn } from "node:child_process";
import path from "node:path";
import type { LocalStack } from "../../dev/stack.js";

const MAIN = path.resolve("src/cli/main.ts");

/**
 * Runs the operators' CLI through its real entry (`src/cli/main.ts` in a process of its own, as `npm run cli` does),
 * against the given local stack's settings. Returns the exit code and both streams.
 */
export async function cliProcess(stack: Pick<LocalStack, "env" | "caFile">, args: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...stack.env, NODE_EXTRA_CA_CERTS: stack.caFile },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  child.stdin.end(stdin);
  const code = await new Promise<number>((resolve) => child.once("exit", (c) => resolve(c ?? -1)));
  return { code, out: out.trimEnd(), err: err.trimEnd() };
}
