import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getApp } from "./app.js";
import { SCIM_ITEM_ROUTE, scimRequestOf, toScimHttp } from "./scim-http.js";

/** `PUT /api/scim/v2/{tenantId}/{resource}/{id}` (SCIM, anonymous: the Secret Token is the gate): replaces a user or group. */
export async function scimReplaceHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const answer = await getApp().scim.handle(await scimRequestOf(request));
  context.log(`scimReplace ${request.params.resource ?? ""} → ${answer.status}`);
  return toScimHttp(answer);
}

app.http("scimReplace", { methods: ["PUT"], authLevel: "anonymous", route: SCIM_ITEM_ROUTE, handler: scimReplaceHandler });
