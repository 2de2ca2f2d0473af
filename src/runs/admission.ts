/**
 * Admission control for full reads (the policy; the slots and the waiting line are rows of the tenant state table,
 * src/state/full-read-slots.ts): a run that will read its tenant in full takes a slot first, or waits in line.
 */
import type { Checkpoint, CheckpointSlot } from "../state/checkpoints.js";
import type { RunReport } from "./report.js";
export { FullReadSlots, ADMISSION_PARTITION, type Admission, type AdmissionRequest, type FullReadSlotTimes } from "../state/full-read-slots.js";

/**
 * Whether the update step of this run will read (or go on reading) the tenant in full: the same choice of starting
 * point as update sync makes (its own checkpoint on a continuation, else `full` starts a new initial round, else the
 * tenant's checkpoint), read before the run starts. An expired delta token found during the run is not foreseen.
 */
export async function readsInFull(checkpoints: { get(tenantId: string, slot?: CheckpointSlot): Promise<Checkpoint | undefined> }, report: RunReport): Promise<boolean> {
  if (!report.only.includes("update")) return false;
  const saved = await checkpoints.get(report.tenantId, "main");
  const ownDry = report.dryRun ? await checkpoints.get(report.tenantId, "dryRun") : undefined;
  const resume = ownDry?.runId === report.runId ? ownDry : saved && (saved.runId === report.runId || report.mode !== "full") ? saved : undefined;
  if (!resume) return true;
  return resume.kind === "next" && resume.round === "initial";
}
