import type { RunReport } from "../runs/report.js";

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));
const num = (n: number | undefined) => (n ?? 0).toLocaleString("en-US");
const plural = (n: number | undefined, noun: string) => `${num(n)} ${noun}${(n ?? 0) === 1 ? "" : "s"}`;

/** A run report as text for people (the CLI and `npm start`). `--json` prints the report itself instead. */
export function formatReport(r: RunReport): string {
  const lines: string[] = [];
  const dur = r.durationMs !== undefined ? `${(r.durationMs / 1000).toFixed(1)} s` : "—";
  lines.push(`Run ${r.runId}  ${r.tenantName} (${r.tenantId})`);
  lines.push(`  ${r.trigger} · ${r.mode}${r.dryRun ? " · DRY RUN (nothing written)" : ""} · steps: ${r.only.join(", ")} · status: ${r.status.toUpperCase()} · ${dur}`);
  if (r.progress.round) lines.push(`  delta round: ${r.progress.round} · pages: ${r.progress.pages} · invocations: ${r.progress.invocations}`);
  const u = r.update;
  if (r.only.includes("update")) {
    lines.push("  update sync (Entra → platform)");
    lines.push(`    ${pad("read", 12)}${pad(num(u.read), 10)}${pad("matched", 12)}${pad(num(u.matched), 10)}${pad("updated", 12)}${num(u.updated)}`);
    lines.push(`    ${pad("unchanged", 12)}${pad(num(u.unchanged), 10)}${pad("unmatched", 12)}${pad(num(u.unmatched), 10)}${pad("ambiguous", 12)}${num(u.ambiguous)}`);
    lines.push(`    ${pad("removed", 12)}${pad(num(u.removed), 10)}${pad("failed", 12)}${num(u.failed)}`);
  }
  if (r.hold) {
    const h = r.hold;
    const t = h.thresholds;
    lines.push(`  HELD by the mass-change guard (${h.state}${h.approvedBy ? ` by ${h.approvedBy}, run ${h.approvedRunId ?? "?"}` : `, expires ${h.expiresAt}`}): nothing written`);
    lines.push(`    ${pad("removals", 12)}${pad(num(h.removals), 10)}${pad("changes", 12)}${pad(num(h.changes), 10)}${pad("users", 12)}${h.users === null ? "—" : num(h.users)}`);
    lines.push(`    thresholds${t.termStart ? " (term start)" : ""}: ${num(t.removals)} removals, ${t.changesPercent} % of users (at least ${num(t.changesFloor)}); tripped: ${h.tripped.join(", ")}`);
    for (const p of h.preview.slice(0, 10)) lines.push(`    ${p.kind} ${p.platformUserId} (${p.entraId}): ${p.changes.map((c) => `${c.attribute} ${c.old ?? "∅"} → ${c.new ?? "∅"}`).join(", ")}`);
    if (h.preview.length > 10) lines.push(`    … ${h.preview.length - 10} more in the preview (--json), of ${num(h.changes)} changes`);
  }
  if (r.immutableId) {
    const i = r.immutableId;
    lines.push("  immutable ID sync (platform → Entra)");
    lines.push(`    ${pad("candidates", 12)}${pad(num(i.candidates), 10)}${pad("planned", 12)}${pad(num(i.planned), 10)}${pad("written", 12)}${num(i.written)}${i.writesPerSecond ? `  (${i.writesPerSecond.toFixed(1)} writes/s)` : ""}`);
    const sk = Object.entries(i.skipped).filter(([, n]) => n > 0);
    if (sk.length) lines.push(`    skipped: ${sk.map(([k, n]) => `${k} ${num(n)}`).join(", ")}`);
    const fl = Object.entries(i.failed).filter(([, n]) => n > 0);
    if (fl.length) lines.push(`    failed: ${fl.map(([k, n]) => `${k} ${num(n)}`).join(", ")}`);
    if (i.capExceeded) {
      const c = i.capExceeded;
      const cap = c.cap ?? Math.min(c.maxWrites, Math.floor((c.maxPercent / 100) * c.tenantUsers));
      const next = c.mode === "preview" || c.mode === "off" ? `switch the mode on (entra-sync tenant update ${r.tenantId} --immutable-id-mode on), then run with --force-plan ${r.runId}` : `run with --force-plan ${r.runId}`;
      lines.push(`    CAP EXCEEDED: ${num(c.planned)} planned > cap of ${num(cap)} (the lower of ${num(c.maxWrites)} writes and ${c.maxPercent}% of ${num(c.tenantUsers)} users): nothing written; review the plan, then ${next}`);
    }
  }
  lines.push(`  graph: ${plural(r.graph.requests, "request")}, ${num(r.graph.throttled)} throttled, ${num(r.graph.retried)} retried`);
  if (r.metrics) lines.push(`  cost: ${plural(r.metrics.tableRequests, "table request")} (${plural(r.metrics.tableRowsRead, "row")} read), ${plural(r.metrics.graphRequests, "Graph request")}, CPU ${num(r.metrics.cpuMs)} ms, peak RSS ${num(r.metrics.peakRssMb)} MB`);
  for (const n of r.notices) lines.push(`  note: ${n}`);
  if (r.failure) lines.push(`  FAILED (${r.failure.class}, ${r.failure.code}): ${r.failure.message}`);
  for (const e of r.errors) {
    if (r.failure && e.code === r.failure.code) continue;
    lines.push(`  ${e.code}: ${e.message}${e.users?.length ? ` [${e.users.slice(0, 5).join(", ")}${e.users.length > 5 ? `, … ${e.users.length - 5} more` : ""}]` : ""}`);
  }
  return lines.join("\n");
}

/** A plain text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!)).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
