import { describe, expect, it } from "vitest";
import type { RunReport } from "../../src/runs/report.js";
import { chartPoints, runChart } from "../../src/ui/chart.js";
import { toDocument } from "../../src/ui/html.js";

const run = (runId: string, startedAt: string, read: number, updated: number, failed: number) =>
  ({ runId, queuedAt: startedAt, startedAt, update: { read, matched: 0, updated, unchanged: 0, unmatched: 0, ambiguous: 0, removed: 0, failed } }) as unknown as RunReport;

describe("the run chart", () => {
  it("puts runs oldest left on a time axis and counts on a scale from 0 to the largest", () => {
    // Newest first, as the run history lists them.
    const pts = chartPoints([run("c", "2026-11-30T12:00:00Z", 10, 0, 5), run("b", "2026-11-30T11:00:00Z", 100, 50, 0), run("a", "2026-11-30T10:00:00Z", 0, 0, 0)]);
    expect(pts.map((p) => p.run.runId)).toEqual(["a", "b", "c"]);
    expect(pts[1]!.x - pts[0]!.x).toBeCloseTo(pts[2]!.x - pts[1]!.x, 6); // equal time steps, equal distances
    expect(pts[1]!.y.read).toBeLessThan(pts[1]!.y.updated); // SVG y grows downwards: more is higher up
    expect(pts[0]!.y.read).toBe(pts[0]!.y.failed); // zeros sit on the axis
    expect(pts[1]!.y.updated).toBeCloseTo((pts[0]!.y.read + pts[1]!.y.read) / 2, 6); // 50 is half of 100
  });

  it("draws one line per series with a point per run, and says when there is nothing to draw", () => {
    const svg = toDocument(runChart([run("b", "2026-11-30T11:00:00Z", 3, 2, 1), run("a", "2026-11-30T10:00:00Z", 4, 4, 0)]));
    for (const s of ["read", "updated", "failed"]) expect(svg).toContain(`series series-${s}`);
    expect(svg.match(/<circle/g)).toHaveLength(6);
    expect(svg).not.toMatch(/style=/);
    expect(toDocument(runChart([]))).toContain("No runs yet.");
  });
});
