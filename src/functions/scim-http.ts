import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { ScimAnswer, ScimRequest } from "../scim/endpoint.js";

/**
 * The SCIM routes, under `/api/`: `scim/v2/{tenantId}/{resource}` and `…/{resource}/{id}`. Anonymous at the Functions
 * level, because Entra's provisioning service cannot send a function key: the tenant's Secret Token is the gate.
 */
export const SCIM_ROUTE = "scim/v2/{tenantId}/{resource}";
export const SCIM_ITEM_ROUTE = "scim/v2/{tenantId}/{resource}/{id}";

/** The trigger's request as the SCIM endpoint reads it (the host has buffered the body already). */
export async function scimRequestOf(request: HttpRequest): Promise<ScimRequest> {
  return {
    method: request.method,
    url: request.url,
    tenantId: request.params.tenantId ?? "",
    resource: request.params.resource ?? "",
    id: request.params.id,
    header: (name) => request.headers.get(name),
    body: await request.text(),
  };
}

/** The endpoint's answer as the trigger's response; the body is serialised here so our Content-Type stays. */
export function toScimHttp(a: ScimAnswer): HttpResponseInit {
  return { status: a.status, headers: a.headers, ...(a.body === undefined ? {} : { body: JSON.stringify(a.body) }) };
}
