import type { TenantRegistry } from "../tenants/registry.js";
import { auditToCsv, listAudit, type ListAuditDeps, type ListAuditRequest } from "./list.js";
import type { AuditPage } from "./store.js";

/** What the API and the CLI need to answer an audit listing. */
export interface AuditQueryDeps extends ListAuditDeps {
  tenants: Pick<TenantRegistry, "require">;
}

/**
 * An audit listing for a registered tenant (TENANT_NOT_FOUND otherwise): the page as JSON, or as CSV (one line per
 * attribute change) with `csv`.
 */
export async function queryAudit(deps: AuditQueryDeps, r: ListAuditRequest): Promise<AuditPage & { tenantId: string }> {
  const page = await listAudit(deps, r);
  await deps.tenants.require(page.tenantId);
  return page;
}

export { auditToCsv };
