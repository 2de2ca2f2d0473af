import { app, type InvocationContext, type Timer } from "@azure/functions";
import { runSecretExpiryCheck } from "../expiry/check.js";
import { sendOperatorDigest } from "../alerts/digest.js";
import { getApp } from "./app.js";

/**
 * The `secretExpiryCheck` timer (`%SECRET_CHECK_SCHEDULE%`, daily): mails each tenant whose secret crossed a threshold,
 * then the operators' daily digest.
 */
export async function secretExpiryCheckHandler(_timer: Timer, context: InvocationContext): Promise<void> {
  const r = await runSecretExpiryCheck(getApp());
  const count = (o: string) => r.alerts.filter((a) => a.outcome === o).length;
  context.log(`secretExpiryCheck: ${r.tenants} tenants, ${r.secretsListed} secrets listed, ${count("sent")} mails sent, ${count("skipped")} already sent, ${count("failed")} failed`);
  // The operators' daily digest rides on the daily check (once per UTC day, whatever reruns the timer).
  const digest = await sendOperatorDigest(getApp());
  context.log(`secretExpiryCheck: operator digest ${digest.outcome}`);
  // A failed mail is retried by the next check; failing the invocation makes it visible in the host's monitoring too.
  if (count("failed") > 0) throw new Error(`secretExpiryCheck: ${count("failed")} alert mail(s) failed (see the log); they are sent again by the next check.`);
}

app.timer("secretExpiryCheck", { schedule: "%SECRET_CHECK_SCHEDULE%", handler: secretExpiryCheckHandler });
