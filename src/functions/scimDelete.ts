import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getApp } from "./app.js";
import { SCIM_ITEM_ROUTE, scimRequestOf, toScimHttp } from "./scim-http.js";

/** `DELETE /api/scim/v2/{tenantId}/{resource}/{id}` (SCIM, anonymous: the Secret Token is the gate): deletes a user (marked removed) or group. */
export async function scimDeleteHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const answer = await getApp().scim.handle(await scimRequestOf(request));
  context.log(`scimDelete ${request.params.resource ?? ""} → ${answer.status}`);
  return toScimHttp(answer);
}

app.http("scimDelete", { methods: ["DELETE"], authLevel: "anonymous", route: SCIM_ITEM_ROUTE, handler: scimDeleteHandler });
