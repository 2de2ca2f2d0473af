import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getApp } from "./app.js";
import { SCIM_ITEM_ROUTE, scimRequestOf, toScimHttp } from "./scim-http.js";

/** `PATCH /api/scim/v2/{tenantId}/{resource}/{id}` (SCIM, anonymous: the Secret Token is the gate): changes a user or group (both of Entra's PATCH dialects). */
export async function scimPatchHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const answer = await getApp().scim.handle(await scimRequestOf(request));
  context.log(`scimPatch ${request.params.resource ?? ""} → ${answer.status}`);
  return toScimHttp(answer);
}

app.http("scimPatch", { methods: ["PATCH"], authLevel: "anonymous", route: SCIM_ITEM_ROUTE, handler: scimPatchHandler });
