import type { RunReport } from "../runs/report.js";
import { html, type Html } from "./html.js";

/** The series of the run chart: what update sync read, updated and failed per run. */
export const SERIES = [
  { key: "read", label: "read" },
  { key: "updated", label: "updated" },
  { key: "failed", label: "failed" },
] as const;

const W = 720;
const H = 220;
const PAD = { left: 56, right: 16, top: 16, bottom: 36 };

/** Plot coordinates of the runs (oldest left), on a time axis; y from 0 to the largest count. */
export function chartPoints(runs: readonly RunReport[]): { x: number; y: Record<(typeof SERIES)[number]["key"], number>; run: RunReport }[] {
  const sorted = [...runs].sort((a, b) => Date.parse(a.queuedAt) - Date.parse(b.queuedAt));
  const times = sorted.map((r) => Date.parse(r.startedAt ?? r.queuedAt));
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const max = Math.max(1, ...sorted.flatMap((r) => SERIES.map((s) => r.update[s.key])));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  return sorted.map((run, i) => {
    const x = PAD.left + (t1 > t0 ? ((times[i]! - t0) / (t1 - t0)) * innerW : innerW / 2);
    const y = Object.fromEntries(SERIES.map((s) => [s.key, PAD.top + innerH - (run.update[s.key] / max) * innerH])) as Record<(typeof SERIES)[number]["key"], number>;
    return { x, y, run };
  });
}

const day = (iso: string) => iso.slice(0, 16).replace("T", " ");

/** An SVG line chart (no script, no inline style: colours come from the stylesheet's classes). */
export function runChart(runs: readonly RunReport[]): Html {
  if (runs.length === 0) return html`<p class="muted">No runs yet.</p>`;
  const pts = chartPoints(runs);
  const max = Math.max(1, ...runs.flatMap((r) => SERIES.map((s) => r.update[s.key])));
  const bottom = H - PAD.bottom;
  const first = pts[0]!.run;
  const last = pts[pts.length - 1]!.run;
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">
      <title id="chart-title">Users read, updated and failed per run, ${runs.length} runs</title>
      <line class="axis" x1=${PAD.left} y1=${bottom} x2=${W - PAD.right} y2=${bottom} />
      <line class="axis" x1=${PAD.left} y1=${PAD.top} x2=${PAD.left} y2=${bottom} />
      <text class="tick" x=${PAD.left - 6} y=${PAD.top + 4} text-anchor="end">${max.toLocaleString("en-US")}</text>
      <text class="tick" x=${PAD.left - 6} y=${bottom} text-anchor="end">0</text>
      <text class="tick" x=${PAD.left} y=${H - 12}>${day(first.startedAt ?? first.queuedAt)}</text>
      <text class="tick" x=${W - PAD.right} y=${H - 12} text-anchor="end">${day(last.startedAt ?? last.queuedAt)}</text>
      ${SERIES.map(
        (s) => html`<g class=${`series series-${s.key}`}>
          <polyline points=${pts.map((p) => `${p.x.toFixed(1)},${p.y[s.key].toFixed(1)}`).join(" ")} />
          ${pts.map((p) => html`<circle cx=${p.x.toFixed(1)} cy=${p.y[s.key].toFixed(1)} r="3"><title>${`${p.run.runId}: ${s.label} ${p.run.update[s.key]}`}</title></circle>`)}
        </g>`,
      )}
    </svg>
    <figcaption>${SERIES.map((s) => html`<span class=${`key key-${s.key}`}>${s.label}</span> `)}</figcaption>
  </figure>`;
}
