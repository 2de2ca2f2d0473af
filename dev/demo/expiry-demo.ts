import { runSecretExpiryCheck } from "../../src/expiry/check.js";
import type { LocalStack } from "../stack.js";

/**
 * The secret expiry part of `npm start`: the demo tenant's secret expires in 10 days, so the daily check mails its
 * admins once (the 14-day threshold) into the outbox; a second check sends nothing. Returns the .eml path.
 */
export async function runExpiryDemo(stack: LocalStack, say: (line: string) => void): Promise<{ path: string | undefined; secondSent: number }> {
  const first = await runSecretExpiryCheck(stack.app);
  for (const r of first.rows) {
    if (r.daysLeft !== undefined)
      say(`  ${r.displayName}: client secret expires ${r.expiresOn?.toISOString().slice(0, 10)} (${r.daysLeft} days left, date from ${r.source === "entra" ? "Entra" : "Key Vault"}${r.mismatchDays ? `, differs from Key Vault by ${r.mismatchDays} days` : ""}).`);
  }
  const sent = first.alerts.filter((a) => a.outcome === "sent");
  for (const a of sent) say(`  Mailed "${a.subject}" to ${a.recipients?.join(", ")}\n  → ${a.path ?? "(sent)"}`);
  for (const a of first.alerts.filter((x) => x.outcome === "failed")) say(`  Mail FAILED for ${a.tenantId}: ${a.error}`);
  const second = await runSecretExpiryCheck(stack.app);
  const secondSent = second.alerts.filter((a) => a.outcome === "sent").length;
  say(`  Second check: ${secondSent === 0 ? "nothing sent (already mailed for this secret version and threshold)" : `${secondSent} mail(s) sent — unexpected`}.`);
  return { path: sent[0]?.path, secondSent };
}
