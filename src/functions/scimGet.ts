import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getApp } from "./app.js";
import { SCIM_ITEM_ROUTE, scimRequestOf, toScimHttp } from "./scim-http.js";

/** `GET /api/scim/v2/{tenantId}/{resource}/{id}` (SCIM, anonymous: the Secret Token is the gate): one user, group, schema or resource type. */
export async function scimGetHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const answer = await getApp().scim.handle(await scimRequestOf(request));
  context.log(`scimGet ${request.params.resource ?? ""} → ${answer.status}`);
  return toScimHttp(answer);
}

app.http("scimGet", { methods: ["GET"], authLevel: "anonymous", route: SCIM_ITEM_ROUTE, handler: scimGetHandler });
