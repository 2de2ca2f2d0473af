import { runCli } from "../../src/cli/main.js";
import type { App } from "../../src/composition.js";

/** A CLI run in this process against the given app (the local stack's): exit code and what it printed. */
export function cliInProcess(app: () => App): (args: string[]) => Promise<{ code: number; out: string; err: string }> {
  return async (args) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t), readStdin: async () => "", isTTY: false }, app);
    return { code, out: out.join("\n"), err: err.join("\n") };
  };
}
