import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { healthAnswer } from "./api.js";
import { toHttp } from "./http.js";

/** `GET /api/health` (anonymous) → status and version; touches no customer data and builds no clients. */
export async function healthHandler(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return toHttp(healthAnswer());
}

app.http("health", { methods: ["GET"], authLevel: "anonymous", route: "health", handler: healthHandler });
