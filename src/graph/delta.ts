import type { Client } from "@microsoft/microsoft-graph-client";
import { EntraSyncError } from "../errors.js";
import { classifyGraphError, graphErrorInfo, type TenantRef } from "./errors.js";
import type { DeltaPage } from "./tenant-graph.js";
import type { DeltaEntry } from "./users.js";


/**
 * Refuses a link whose origin is not the configured Graph origin: the bearer token must never leave for another
 * host, whatever a response (or a tampered checkpoint) says.
 */
export function assertGraphLink(link: string, graphBaseUrl: string): void {
  let origin: string;
  try {
    origin = new URL(link).origin;
  } catch {
    throw new EntraSyncError("GRAPH_FOREIGN_LINK", `Refused a Graph link that is not a URL: ${JSON.stringify(link.slice(0, 200))}.`, { retryable: false });
  }
  if (origin !== new URL(graphBaseUrl).origin)
    throw new EntraSyncError("GRAPH_FOREIGN_LINK", `Refused to follow a Graph link to ${origin}: only ${new URL(graphBaseUrl).origin} may receive the tenant's token.`, { retryable: false, details: { origin } });
}

export interface DeltaRequest {
  client: Client;
  tenant: TenantRef;
  graphBaseUrl: string;
  select: readonly string[];
  /** Checkpoint link to continue from; undefined starts a new initial round. */
  link?: string | undefined;
}

/**
 * Reads one page of /users/delta. An expired delta token becomes GRAPH_DELTA_EXPIRED. Transient failures are retried
 * by the Graph client (429/503/504 by the SDK, 500/502 and network errors by entra-sync's read retry).
 */
export async function fetchDeltaPage(r: DeltaRequest): Promise<DeltaPage> {
  if (r.link) assertGraphLink(r.link, r.graphBaseUrl);
  let body: { value?: DeltaEntry[]; "@odata.nextLink"?: string; "@odata.deltaLink"?: string };
  try {
    const req = r.link ? r.client.api(r.link) : r.client.api("/users/delta").select([...r.select]);
    body = (await req.header("Prefer", "return=minimal").get()) as typeof body;
  } catch (e) {
    const info = graphErrorInfo(e);
    if (info.status === 410 || (info.status === 400 && /syncStateNotFound|resyncRequired/i.test(`${info.code} ${info.message}`)))
      throw new EntraSyncError("GRAPH_DELTA_EXPIRED", `The delta token of tenant ${r.tenant.tenantId} has expired (${info.status} ${info.code ?? ""}): a full resync starts.`, { cause: e, retryable: true });
    throw classifyGraphError(e, r.tenant, "read users (delta)", "User.Read.All");
  }
  const page: DeltaPage = { entries: body.value ?? [], nextLink: body["@odata.nextLink"], deltaLink: body["@odata.deltaLink"] };
  if (page.nextLink) assertGraphLink(page.nextLink, r.graphBaseUrl);
  if (page.deltaLink) assertGraphLink(page.deltaLink, r.graphBaseUrl);
  if (!page.nextLink && !page.deltaLink)
    throw new EntraSyncError("GRAPH_REQUEST_FAILED", `Graph answered a delta page for tenant ${r.tenant.tenantId} with neither a nextLink nor a deltaLink.`, { retryable: true });
  return page;
}
