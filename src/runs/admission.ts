/**
 * Admission control for full reads (the policy; the slots and the waiting line are rows of the tenant state table,
 * src/state/full-read-slots.ts): a run that will read its tenant in full takes a slot first, or waits in line.
 */
import type { CheckpointStore } from "../state/checkpoints.js";
import { resumePoint } from "../sync/update-sync.js";
import type { RunReport } from "./report.js";
export { FullReadSlots, ADMISSION_PARTITION, type Admission, type AdmissionRequest, type FullReadSlotTimes } from "../state/full-read-slots.js";

/**
 * Whether the update step of this run will read (or go on reading) the tenant in full: the same choice of starting
 * point as update sync makes (its own checkpoint on a continuation, else `full` starts a new initial round, else the
 * tenant's checkpoint), read before the run starts. An expired delta token found during the run is not foreseen.
 */
export async function readsInFull(checkpoints: Pick<CheckpointStore, "get">, report: RunReport): Promise<boolean> {
  if (!report.only.includes("update")) return false;
  const resume = await resumePoint(checkpoints, report.tenantId, report.runId, { dryRun: report.dryRun, full: report.mode === "full" });
  if (!resume) return true;
  return resume.kind === "next" && resume.round === "initial";
}
