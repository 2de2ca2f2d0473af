/**
 * `npm run stack`: starts Azurite and the simulator in the foreground for `func start` and the CLI, with a demo
 * school already registered. Writes local.settings.json (Functions host) and .local/stack.env (shell) with this
 * stack's settings, and stops everything on Ctrl+C.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { onboardDemoSchool } from "./demo/onboard.js";
import { startLocalStack } from "./stack.js";

const size = Number(process.argv.find((a) => a.startsWith("--size="))?.slice(7) ?? 200);
const stack = await startLocalStack({ workDir: path.resolve(".local") });
const { tenant, demo } = await onboardDemoSchool(stack, { size, seed: 7 });
const tenantId = tenant.tenantId;

const values = { FUNCTIONS_WORKER_RUNTIME: "node", ...stack.env };
writeFileSync("local.settings.json", JSON.stringify({ IsEncrypted: false, Values: values }, null, 2));
const envFile = path.resolve(".local/stack.env");
writeFileSync(envFile, Object.entries({ ...stack.env, NODE_EXTRA_CA_CERTS: stack.caFile }).map(([k, v]) => `export ${k}='${v}'`).join("\n") + "\n");
process.stdout.write(
  [
    `Local stack running: Azurite ${stack.azurite.tableUrl} · simulator ${stack.sim.baseUrl}`,
    `Demo school "${demo.schoolName}" registered as tenant ${tenantId} (${size} users).`,
    `Wrote local.settings.json (for func start) and ${envFile}.`,
    `In another terminal:`,
    `  source ${envFile}`,
    `  npm run cli -- status            # or: npm run cli -- run --tenant ${tenantId}`,
    `  npm run build && func start       # with Azure Functions Core Tools installed`,
    `Simulator control API: POST ${stack.sim.baseUrl}/_control/<method> {"args":[…]} (see dev/simulator/README.md).`,
    `Ctrl+C stops everything.`,
  ].join("\n") + "\n",
);
const stop = async () => {
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
