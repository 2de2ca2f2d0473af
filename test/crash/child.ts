/**
 * A child process for the crash tests: runs one real use case (`users import` through the CLI, or a run) against a
 * local stack started by the test, and stops dead at a chosen point. It counts its HTTP requests to Azurite's table
 * endpoint; at request number `killAfter` it prints `KILL <n>` and blocks its event loop (nothing more leaves it) until
 * the test SIGKILLs it. Requests already sent stay sent: Azurite answers them to a process that is gone.
 *
 * Job (JSON on stdin): { env, caFile, tenantId, action: "import" | "run", file?, runId?, killAfter? }.
 * Prints `DONE <requests>` when the use case finished without being stopped.
 */
import http from "node:http";
import { syncBuiltinESMExports } from "node:module";
import { readFileSync, writeSync } from "node:fs";

interface Job {
  env: Record<string, string>;
  caFile: string;
  tenantId: string;
  action: "import" | "run";
  file?: string;
  runId?: string;
  killAfter?: number;
}

const job = JSON.parse(readFileSync(0, "utf8")) as Job;
const tablePort = /TableEndpoint=http:\/\/[^:/]+:(\d+)/.exec(job.env.AzureWebJobsStorage ?? "")?.[1];
let requests = 0;
const request = http.request;
http.request = function (this: unknown, ...args: unknown[]) {
  const a0 = args[0] as string | URL | { port?: number | string } | undefined;
  const port = typeof a0 === "string" ? new URL(a0).port : a0 instanceof URL ? a0.port : String(a0?.port ?? "");
  if (port === tablePort && ++requests === job.killAfter) {
    writeSync(1, `KILL ${requests}\n`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // until SIGKILL
  }
  return (request as (...a: unknown[]) => http.ClientRequest).apply(this, args);
} as typeof http.request;
syncBuiltinESMExports();

const { createApp } = await import("../../src/composition.js");
const { loadSettings } = await import("../../src/config/settings.js");
const { silentLogger } = await import("../../src/log.js");
const app = createApp({ settings: loadSettings(job.env), ca: readFileSync(job.caFile, "utf8"), log: silentLogger });
if (job.action === "import") {
  const { runCli } = await import("../../src/cli/main.js");
  const err: string[] = [];
  const code = await runCli(["users", "import", job.file!, "--tenant", job.tenantId], { out: () => {}, err: (t) => err.push(t), readStdin: async () => "", isTTY: false }, () => app);
  if (code !== 0) throw new Error(`users import exited with ${code}: ${err.join(" ")}`);
} else {
  const { executeRun } = await import("../../src/runs/execute.js");
  await executeRun(app, job.tenantId, job.runId!, { writeBudget: { writes: 3000, windowMs: 150_000 } });
}
writeSync(1, `DONE ${requests}\n`);
process.exit(0);
