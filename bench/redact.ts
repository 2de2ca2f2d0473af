/**
 * `npx tsx bench/redact.ts`: what masking costs. Every log line, error, report and mail passes the redactor, and a
 * worker process may have read thousands of tenants' secrets, so this measures a log line and a run report against
 * 1, 1,000 and 10,000 known secrets (shaped like Entra's: three characters, `8Q~`, 37 more), and what registering one
 * costs. CPU only: no stack needed.
 */
import { randomBytes } from "node:crypto";
import { boundReport, newReport, newRunId } from "../src/runs/report.js";
import { redact, registerSecret } from "../src/util/redact.js";

const LINE = `run failed: Graph refused to read users (delta) for tenant 097ae4de-5dfc-4762-820f-bef772423762 (HTTP 400 BadRequest: the request was refused) {"tenantId":"097ae4de-5dfc-4762-820f-bef772423762","runId":"8203943510443-196c02df","code":"GRAPH_REQUEST_FAILED"}`;
const REPORT = newReport({ runId: newRunId(new Date()), tenantId: "097ae4de-5dfc-4762-820f-bef772423762", tenantName: "Norrskolan", trigger: "schedule", mode: "incremental", dryRun: false, now: new Date() });
const entraLike = () => `${randomBytes(3).toString("base64url").slice(0, 3)}8Q~${randomBytes(28).toString("base64url").slice(0, 37)}`;

function perCall(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(n, 200); i++) fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t) / n) * 1000;
}

let registered = 0;
const rows: string[][] = [];
for (const target of [1, 1_000, 10_000]) {
  const t = performance.now();
  const before = registered;
  while (registered < target) {
    registerSecret(entraLike());
    registered++;
  }
  const registerUs = registered > before ? ((performance.now() - t) / (registered - before)) * 1000 : 0;
  rows.push([target.toLocaleString("en-US"), registerUs.toFixed(0), perCall(5_000, () => redact(LINE)).toFixed(1), perCall(2_000, () => boundReport(REPORT)).toFixed(1)]);
}
const head = ["known secrets", "register one (µs)", `redact a ${LINE.length}-char log line (µs)`, "bound a run report (µs)"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padStart(widths[i]!)).join("  "));
