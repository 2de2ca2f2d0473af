import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { listTenants } from "./api.js";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";

/** `GET /api/tenants` → every tenant with its health. */
export async function listTenantsHandler(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toHttp(await listTenants(getApp()));
}

app.http("listTenants", { methods: ["GET"], authLevel: "function", route: "tenants", handler: listTenantsHandler });
