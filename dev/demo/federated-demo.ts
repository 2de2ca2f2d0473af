/**
 * `npm start`, step 6: a second school onboarded the federated way. Its admin only grants consent to the platform's
 * multi-tenant app (in the simulator: its service principal in the school's tenant); no secret is made or stored. A
 * full sync runs with a token from the managed identity's assertion, and `status` shows both kinds of tenant.
 */
import { randomUUID } from "node:crypto";
import { formatReport } from "../../src/cli/format.js";
import { runNow } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { adminConsentUrl } from "../../src/graph/permissions.js";
import type { RunReport } from "../../src/runs/report.js";
import { listTenantStatuses } from "../../src/runs/status.js";
import type { LocalStack } from "../stack.js";
import { generateDemoTenant } from "./generate.js";
import { onboardFederatedSimTenant } from "./onboard.js";

export async function federatedDemo(stack: LocalStack, o: { say: (line: string) => void; io: CliIO; size: number }): Promise<RunReport> {
  const tenantId = randomUUID();
  const demo = generateDemoTenant({ seed: 7, size: o.size, tenantId, schoolName: "Federerade skolan" });
  const { tenant } = await onboardFederatedSimTenant(stack, {
    tenantId,
    displayName: demo.schoolName,
    users: demo.entraUsers,
    platformUsers: demo.platformUsers,
    managedDomain: demo.managedDomain,
    federatedDomains: [demo.federatedDomain],
    registration: { linking: { entra: "userPrincipalName", platform: "userName" }, immutableId: { mode: "off" } },
  });
  o.say(`Registered "${demo.schoolName}" (${tenant.tenantId}) with --auth federated: no secret. Its admin granted consent at`);
  o.say(`  ${adminConsentUrl(tenant)}`);
  o.say(`  (locally: the simulator's service principal of app ${tenant.clientId} in that tenant)`);
  const report = await runNow(stack.app, o.io, { tenantId, full: true, dryRun: false, only: ["update"] });
  o.say(formatReport(report));
  const statuses = await listTenantStatuses(stack.app);
  for (const s of statuses) o.say(`  ${s.displayName.padEnd(28)} sign-in: ${s.auth.padEnd(9)} secret: ${s.auth === "federated" ? "none (federated)" : s.secret ? `${s.secret.expiresOn.slice(0, 10)} (${s.secret.daysLeft} d)` : "—"}`);
  return report;
}
