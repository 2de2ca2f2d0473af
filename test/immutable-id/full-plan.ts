import type { ConnectorRow } from "../../src/connector/space.js";
import { byPlanOrder } from "../../src/immutable-id/plan.js";
import { planImmutableIds, type PlannedUser, type PlanOptions } from "../../src/immutable-id/planner.js";

/** A full re-plan with its entries collected in plan order and its states as stored, page by page. */
export async function fullPlan(deps: Parameters<typeof planImmutableIds>[0], tenant: Parameters<typeof planImmutableIds>[1], domains: Parameters<typeof planImmutableIds>[2], o: PlanOptions = {}) {
  const states: ConnectorRow[] = [];
  const p = await planImmutableIds(deps, tenant, domains, { ...o, store: async (rows) => void states.push(...rows) });
  const entries: PlannedUser[] = [];
  for await (const e of p.entries()) entries.push(e);
  p.close();
  return { ...p, entries: entries.sort(byPlanOrder), states };
}

