import type { OneUserResult } from "../runs/one-user.js";
import { table } from "./format.js";

/** Extension attributes: only the ones that hold a value. */
const compact = (k: string, v: unknown): unknown => (k === "onPremisesExtensionAttributes" && v && typeof v === "object" ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null && x !== "")) : v);
const show = (v: unknown) => (v === null || v === undefined || v === "" ? "—" : Array.isArray(v) ? (v.length ? v.join(", ") : "—") : typeof v === "object" ? (Object.keys(v).length ? JSON.stringify(v) : "—") : String(v));

/** A one-user run as text: each step in order (Entra values, mapping, match, diff, Immutable ID, what was written). */
export function formatOneUser(r: OneUserResult): string {
  const lines: string[] = [];
  lines.push(`One user ${r.entra.userPrincipalName ?? r.entra.id} (${r.entra.id}) of tenant ${r.tenantId} · run ${r.runId}${r.dryRun ? " · DRY RUN (nothing written)" : ""}`);
  lines.push("", "1. Entra values (GET /users/{id | userPrincipalName})");
  lines.push(table(["property", "value"], Object.entries(r.entra).filter(([k]) => !k.startsWith("@")).map(([k, v]) => [k, show(compact(k, v))])).replace(/^/gm, "   "));
  lines.push("", "2. Mapping (first non-empty source wins)");
  lines.push(table(["attribute", "value", "from", "sources"], r.mapping.map((m) => [m.attribute, show(m.value), m.source ?? "—", m.sources.join(" › ")])).replace(/^/gm, "   "));
  lines.push("", `3. Match: ${r.match.result.toUpperCase()}${r.match.platformUserId ? ` → platform user ${r.match.platformUserId}${r.match.linked ? " (linked: externalId is set)" : ""}` : ""}`);
  for (const k of r.match.keysTried) lines.push(`   ${k.key}: ${show(k.value)} → ${k.candidates.length ? k.candidates.join(", ") : "no candidate"}`);
  if (r.match.why) lines.push(`   ${r.match.why}`);
  lines.push("", `4. Diff: ${r.diff.length ? `${r.diff.length} attribute(s)` : "nothing changes"}`);
  if (r.diff.length) lines.push(table(["attribute", "platform now", "becomes"], r.diff.map((d) => [d.attribute, show(d.from), show(d.to)])).replace(/^/gm, "   "));
  lines.push("", `5. Immutable ID (mode ${r.immutableId.mode}): ${r.immutableId.decision}${r.immutableId.value ? ` ${r.immutableId.value}` : ""}`, `   ${r.immutableId.reason}`);
  lines.push("", `Result: ${r.outcome}${r.dryRun ? " (dry run: nothing written)" : `; written: platform ${r.written.platform ? "yes" : "no"}, ImmutableId ${r.written.immutableId ? "yes" : "no"}`} · ${r.graphRequests} Graph request(s) · the delta checkpoint did not move`);
  return lines.join("\n");
}
