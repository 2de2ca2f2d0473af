/**
 * `npm run stack`: starts Azurite and the simulator in the foreground with a demo school already registered, and
 * serves the HTTP functions of `src/functions/` on 127.0.0.1 (dev/http-host.ts) with a function key made at start.
 * Writes local.settings.json (Functions host) and .local/stack.env (shell) with this stack's settings, the API's URL
 * and key, and stops everything on Ctrl+C.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { provideApp } from "../src/functions/app.js";
import { onboardDemoSchool } from "./demo/onboard.js";
import { startHttpHost } from "./http-host.js";
import { functionsHostSettings, startLocalStack } from "./stack.js";

const size = Number(process.argv.find((a) => a.startsWith("--size="))?.slice(7) ?? 200);
const port = Number(process.argv.find((a) => a.startsWith("--port="))?.slice(7) ?? 0);
const stack = await startLocalStack({ workDir: path.resolve(".local") });
const { tenant, demo } = await onboardDemoSchool(stack, { size, seed: 7 });
const tenantId = tenant.tenantId;
provideApp(stack.app);
const api = await startHttpHost({ port, log: (l) => process.stdout.write(`${l}\n`) });

writeFileSync("local.settings.json", JSON.stringify({ IsEncrypted: false, Values: functionsHostSettings(stack) }, null, 2));
const envFile = path.resolve(".local/stack.env");
const shellEnv = { ...stack.env, NODE_EXTRA_CA_CERTS: stack.caFile, ENTRA_SYNC_API_URL: api.url, ENTRA_SYNC_FUNCTION_KEY: api.functionKey };
writeFileSync(envFile, Object.entries(shellEnv).map(([k, v]) => `export ${k}='${v}'`).join("\n") + "\n");
process.stdout.write(
  [
    `Local stack running: Azurite ${stack.azurite.tableUrl} · simulator ${stack.sim.baseUrl}`,
    `Demo school "${demo.schoolName}" registered as tenant ${tenantId} (${size} users).`,
    `HTTP functions on ${api.url}/api/ (${api.routes.length}):`,
    ...api.routes.map((r) => `  ${r}`),
    `ENTRA_SYNC_API_URL=${api.url}`,
    `ENTRA_SYNC_FUNCTION_KEY=${api.functionKey}`,
    `Wrote local.settings.json (for func start) and ${envFile}.`,
    `In another terminal:`,
    `  source ${envFile}`,
    `  curl -s -X POST -H "x-functions-key: $ENTRA_SYNC_FUNCTION_KEY" "$ENTRA_SYNC_API_URL/api/tenants/${tenantId}/runs"`,
    `  npm run cli -- status            # or: npm run cli -- run --tenant ${tenantId}`,
    `A run queued through the API waits for the syncWorker function, which only the Functions host (func start) runs; the CLI's run works one in its own process.`,
    `Simulator control API: POST ${stack.sim.baseUrl}/_control/<method> {"args":[…]} (see dev/simulator/README.md).`,
    `Ctrl+C stops everything.`,
  ].join("\n") + "\n",
);
const stop = async () => {
  await api.close();
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
