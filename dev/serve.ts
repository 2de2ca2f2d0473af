/**
 * `npm run stack`: starts Azurite and the simulator in the foreground with a demo school already registered, and
 * runs the functions of `src/functions/` as the Functions host would (dev/local-host.ts): HTTP on 127.0.0.1 with a
 * function key made at start, the queue triggers polling Azurite, the timers on their schedules.
 * Writes local.settings.json (Functions host) and .local/stack.env (shell) with this stack's settings, the API's URL
 * and key, and stops everything on Ctrl+C.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { provideApp } from "../src/functions/app.js";
import { onboardDemoSchool } from "./demo/onboard.js";
import { startLocalHost } from "./local-host.js";
import { functionsHostSettings, startLocalStack } from "./stack.js";

const size = Number(process.argv.find((a) => a.startsWith("--size="))?.slice(7) ?? 200);
const port = Number(process.argv.find((a) => a.startsWith("--port="))?.slice(7) ?? 0);
const stack = await startLocalStack({ workDir: path.resolve(".local") });
const { tenant, demo } = await onboardDemoSchool(stack, { size, seed: 7 });
const tenantId = tenant.tenantId;
provideApp(stack.app);
// The host resolves %SYNC_SCHEDULE% and the other names from its app settings: the stack's, or this shell's.
const hostSettings = { ...functionsHostSettings(stack), ...pickDefined(process.env, ["SYNC_SCHEDULE", "SECRET_CHECK_SCHEDULE"]) };
const api = await startLocalHost({ port, appSettings: hostSettings, log: (l) => process.stdout.write(`${l}\n`) });

writeFileSync("local.settings.json", JSON.stringify({ IsEncrypted: false, Values: hostSettings }, null, 2));
const envFile = path.resolve(".local/stack.env");
// A SCIM Secret Token for the demo school, into the env file only (as `entra-sync scim token create` would print it).
const scim = await stack.app.scimTokens.create(tenantId);
const shellEnv = { ...stack.env, NODE_EXTRA_CA_CERTS: stack.caFile, ENTRA_SYNC_API_URL: api.url, ENTRA_SYNC_FUNCTION_KEY: api.functionKey, ENTRA_SYNC_SCIM_URL: `${api.url}/api/scim/v2/${tenantId}`, ENTRA_SYNC_SCIM_TOKEN: scim.token, ENTRA_SYNC_STATUS_PAGE_KEY: stack.settings.statusPage.key ?? "" };
writeFileSync(envFile, Object.entries(shellEnv).map(([k, v]) => `export ${k}='${v}'`).join("\n") + "\n");
process.stdout.write(
  [
    `Local stack running: Azurite ${stack.azurite.tableUrl} · simulator ${stack.sim.baseUrl}`,
    `Demo school "${demo.schoolName}" registered as tenant ${tenantId} (${size} users).`,
    `HTTP functions on ${api.url}/api/ (${api.routes.length}):`,
    ...api.routes.map((r) => `  ${r}`),
    `Queue and timer functions (${api.triggers.length}):`,
    ...api.triggers.map((t) => `  ${t}`),
    `ENTRA_SYNC_API_URL=${api.url}`,
    `ENTRA_SYNC_FUNCTION_KEY=${api.functionKey}`,
    `Status page: ${api.url}/api/ui (sign in with ENTRA_SYNC_STATUS_PAGE_KEY from ${envFile})`,
    `Wrote local.settings.json (for func start) and ${envFile}.`,
    `In another terminal:`,
    `  source ${envFile}`,
    `  curl -s -X POST -H "x-functions-key: $ENTRA_SYNC_FUNCTION_KEY" "$ENTRA_SYNC_API_URL/api/tenants/${tenantId}/runs"`,
    `  curl -s -H "x-functions-key: $ENTRA_SYNC_FUNCTION_KEY" "$ENTRA_SYNC_API_URL/api/tenants/${tenantId}/runs/<runId>"   # queued → running → succeeded`,
    `  npm run cli -- status`,
    `  curl -s -H "Authorization: Bearer $ENTRA_SYNC_SCIM_TOKEN" "$ENTRA_SYNC_SCIM_URL/Users?filter=userName%20eq%20%22x%22"   # SCIM, as Entra's provisioning service`,
    `syncWorker works a queued run from the sync-jobs queue here, as the Functions host would.`,
    `Simulator control API: POST ${stack.sim.baseUrl}/_control/<method> {"args":[…]} (see dev/simulator/README.md).`,
    `Ctrl+C stops everything.`,
  ].join("\n") + "\n",
);
function pickDefined(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => (env[n] ? [[n, env[n]]] : [])));
}

const stop = async () => {
  await api.close();
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
