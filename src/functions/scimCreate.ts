import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { getApp } from "./app.js";
import { SCIM_ROUTE, scimRequestOf, toScimHttp } from "./scim-http.js";

/** `POST /api/scim/v2/{tenantId}/{resource}` (SCIM, anonymous: the Secret Token is the gate): creates a user or group. */
export async function scimCreateHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const answer = await getApp().scim.handle(await scimRequestOf(request));
  context.log(`scimCreate ${request.params.resource ?? ""} → ${answer.status}`);
  return toScimHttp(answer);
}

app.http("scimCreate", { methods: ["POST"], authLevel: "anonymous", route: SCIM_ROUTE, handler: scimCreateHandler });
