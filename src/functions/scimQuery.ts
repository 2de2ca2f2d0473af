import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getApp } from "./app.js";
import { SCIM_ROUTE, scimRequestOf, toScimHttp } from "./scim-http.js";

/** `GET /api/scim/v2/{tenantId}/{resource}` (SCIM, anonymous: the Secret Token is the gate): query: filtered or paged users or groups, and the discovery documents. */
export async function scimQueryHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const answer = await getApp().scim.handle(await scimRequestOf(request));
  context.log(`scimQuery ${request.params.resource ?? ""} → ${answer.status}`);
  return toScimHttp(answer);
}

app.http("scimQuery", { methods: ["GET"], authLevel: "anonymous", route: SCIM_ROUTE, handler: scimQueryHandler });
