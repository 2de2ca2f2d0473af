/**
 * `npm start`: one full local cycle on the embedded defaults. Starts Azurite and the Entra simulator, creates a
 * demo school of 2,000 users with a matching platform directory, registers it through the CLI's code, runs a full
 * sync, changes 50 users in Entra, runs an incremental sync, previews and then writes ImmutableIds, and runs the secret
 * expiry check (one mail into the outbox), printing each report, and pushes a few users through the SCIM endpoint in
 * both of Entra's PATCH dialects, printing what the platform directory then holds; then onboards a second school
 * the federated way (admin consent only, no secret) and syncs it beside the first. `--json` prints the final
 * report as one JSON line at the end. Leaves nothing running.
 */
import { formatReport } from "../src/cli/format.js";
import { runNow } from "../src/cli/main.js";
import { processIO } from "../src/cli/io.js";
import type { RunReport } from "../src/runs/report.js";
import { changeUsers } from "./demo/generate.js";
import { onboardDemoSchool } from "./demo/onboard.js";
import { runExpiryDemo } from "./demo/expiry-demo.js";
import { scimDemo } from "./demo/scim-demo.js";
import { immutableIdDemo } from "./demo/immutable-id-demo.js";
import { federatedDemo } from "./demo/federated-demo.js";
import { startLocalStack } from "./stack.js";

const json = process.argv.includes("--json");
const sizeArg = process.argv.find((a) => a.startsWith("--size="));
const size = sizeArg ? Number(sizeArg.slice(7)) : 2000;
const say = (s: string) => process.stdout.write(`${s}\n`);
const io = { ...processIO, out: (t: string) => (json ? undefined : say(t)) };

async function main(): Promise<void> {
  const t0 = Date.now();
  say(`entra-sync local cycle: starting Azurite and the Entra/Graph/Key Vault simulator on 127.0.0.1 …`);
  const stack = await startLocalStack({ simulator: { latencyMs: 5 } });
  let last: RunReport | undefined;
  try {
    say(`  tables/queues ${stack.azurite.tableUrl.replace(/\/devstoreaccount1$/, "")} · simulator ${stack.sim.baseUrl}`);
    const { tenant, demo } = await onboardDemoSchool(stack, {
      size,
      seed: 42,
      secretDays: 10,
      registration: { locale: "sv" },
    });
    const tenantId = tenant.tenantId;
    say(`Demo school "${demo.schoolName}": ${demo.entraUsers.length} Entra users, ${demo.platformUsers.length} platform users (${demo.managedDomain}, federated ${demo.federatedDomain}).`);
    say(`Registered tenant ${tenant.tenantId} and stored its client secret in Key Vault (expires in 10 days).`);

    say(`\n1) Full sync (update: Entra → platform)`);
    last = await runNow(stack.app, io, { tenantId, full: true, dryRun: false, only: ["update"] });
    if (!json) say(formatReport(last));

    const changes = changeUsers(demo, 50, 7);
    for (const c of changes) await stack.sim.control.updateUser(tenantId, c.id, c.patch);
    say(`\n2) Changed ${changes.length} users in Entra; incremental sync`);
    last = await runNow(stack.app, io, { tenantId, full: false, dryRun: false, only: ["update"] });
    if (!json) say(formatReport(last));

    say(`\n3) Immutable ID sync`);
    last = await immutableIdDemo(stack, tenantId, { say: (l) => (json ? undefined : say(l)), io });

    say(`\n4) Secret expiry check (the demo secret expires in 10 days; MAIL_TRANSPORT=outbox)`);
    const expiry = await runExpiryDemo(stack, say);
    if (!expiry.path || expiry.secondSent !== 0) throw new Error("the expiry demo did not send exactly one mail");

    say(`\n5) SCIM: Entra's provisioning service pushes users to the platform (both PATCH dialects)`);
    const scim = await scimDemo(stack, (l) => (json ? undefined : say(l)));
    if (scim.users !== 3 || scim.inactive !== 1 || scim.removed !== 1) throw new Error("the SCIM demo did not leave 3 users, 1 inactive and 1 removed");

    say(`\n6) A federated tenant (no secret): admin consent to the platform's app, tokens from the managed identity's assertion`);
    const federated = await federatedDemo(stack, { say: (l) => (json ? undefined : say(l)), io, size: 200 });
    if (federated.status !== "succeeded") throw new Error(`the federated tenant's sync ended ${federated.status}`);

    say(`\nDone in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
  } finally {
    await stack.stop();
  }
  if (json && last) say(JSON.stringify(last));
  if (last?.status === "failed") process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`npm start failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
