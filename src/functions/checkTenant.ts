import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { errorAnswer } from "./api.js";
import { checkTenant } from "../tenants/check.js";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";

/** `GET /api/tenants/{tenantId}/check` → the Graph permissions the tenant's app holds and what each capability needs. */
export async function checkTenantHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  try {
    return toHttp({ status: 200, body: await checkTenant(getApp(), request.params.tenantId ?? "") });
  } catch (e) {
    return toHttp(errorAnswer(e));
  }
}

app.http("checkTenant", { methods: ["GET"], authLevel: "function", route: "tenants/{tenantId}/check", handler: checkTenantHandler });
