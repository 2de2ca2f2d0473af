import type { RunHold } from "./report.js";

/** A hold as shown at `now`: a pending one past its expiry reads `expired`. */
export function holdStateAt(hold: RunHold, now: Date): RunHold["state"] {
  return hold.state === "pending" && Date.parse(hold.expiresAt) <= now.getTime() ? "expired" : hold.state;
}
