import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { auditToCsv, queryAudit } from "../audit/query.js";
import { EntraSyncError } from "../errors.js";
import { answer } from "./api.js";
import { getApp } from "./app.js";
import { toHttp } from "./http.js";

/**
 * `GET /api/tenants/{tenantId}/audit?user=&run=&since=&limit=&continuation=[&format=csv]` → the tenant's audit log,
 * newest first: `{ tenantId, entries, continuation? }`, or CSV (one line per attribute change).
 */
export async function listAuditHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const q = request.query;
  return toHttp(
    await answer(async () => {
      const format = q.get("format");
      if (format && format !== "csv" && format !== "json") throw new EntraSyncError("INPUT_INVALID", `format must be csv or json, got ${JSON.stringify(format.slice(0, 40))}.`, { field: "format", retryable: false });
      const page = await queryAudit(getApp(), { tenantId: request.params.tenantId, userId: q.get("user"), runId: q.get("run"), since: q.get("since"), limit: q.get("limit"), continuation: q.get("continuation") });
      if (format !== "csv") return { status: 200, body: page };
      const headers: Record<string, string> = { "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": `attachment; filename="audit-${page.tenantId}.csv"` };
      if (page.continuation) headers["X-Continuation"] = page.continuation;
      return { status: 200, text: auditToCsv(page.entries), headers };
    }),
  );
}

app.http("listAudit", { methods: ["GET"], authLevel: "function", route: "tenants/{tenantId}/audit", handler: listAuditHandler });
