import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { STATUS_CSS } from "../ui/stylesheet.js";
import { SECURITY_HEADERS } from "../ui/status-page.js";

/** Status page: `GET /api/ui/assets/status.css` → its stylesheet (public: it holds no data). */
export async function uiAssetHandler(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  if (request.params.name !== "status.css") return { status: 404, headers: { ...SECURITY_HEADERS } };
  return { status: 200, headers: { ...SECURITY_HEADERS, "Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=3600" }, body: STATUS_CSS };
}

app.http("uiAsset", { methods: ["GET"], authLevel: "anonymous", route: "ui/assets/{name}", handler: uiAssetHandler });
