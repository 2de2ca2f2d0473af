import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { approveRun } from "./api.js";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";

/** `POST /api/runs/{runId}/approve` → 202 with the run that applies the held run; 404, 409, 400 as the README says. */
export async function approveRunHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const r = await approveRun(getApp(), request.params.runId, await request.text());
  context.log(`approveRun ${request.params.runId ?? ""} → ${r.status}`);
  return toHttp(r);
}

app.http("approveRun", { methods: ["POST"], authLevel: "function", route: "runs/{runId}/approve", handler: approveRunHandler });
