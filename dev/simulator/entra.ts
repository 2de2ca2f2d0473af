/** Entra v2 token endpoint (client credentials), OpenID discovery, and the issued-token registry. */
import { json, type SimRequest, type SimResponse } from "./http.js";
import type { Store } from "./store.js";
import type { Federation } from "./federation.js";
import { b64url, entraTimestamp, guid, hex } from "./util.js";

export interface IssuedToken {
  tid: string;
  appid: string;
  oid: string;
  /** undefined when the app has no roles (admin consent missing): the claim is omitted */
  roles: string[] | undefined;
  aud: string;
  /** ms since epoch (simulator clock): the exp claim */
  exp: number;
  /** A v2.0 issuer (`<authority>/<tenant>/v2.0`, as managed identity tokens for the exchange audience carry); default the v1 sts.windows.net one. */
  issuer?: string;
  /** The sub claim; default the oid. */
  sub?: string;
}

interface Held extends IssuedToken {
  /** real-time expiry: validation runs on real time, like the SDKs' token caches (see README) */
  realExp: number;
}

export const TOKEN_LIFETIME_S = 3599;

export class TokenRegistry {
  private tokens = new Map<string, Held>();
  private sinceSweep = 0;
  issue(t: IssuedToken, iatMs: number): string {
    if (++this.sinceSweep > 1000) {
      this.sinceSweep = 0;
      const n = Date.now();
      for (const [k, v] of this.tokens) if (v.realExp < n) this.tokens.delete(k);
    }
    const header = { typ: "JWT", alg: "RS256", kid: "simulator" };
    const iat = Math.floor(iatMs / 1000);
    const payload: Record<string, unknown> = {
      aud: t.aud,
      iss: t.issuer ?? `https://sts.windows.net/${t.tid}/`,
      iat,
      nbf: iat,
      exp: Math.floor(t.exp / 1000),
      appid: t.appid,
      appidacr: "1",
      idp: `https://sts.windows.net/${t.tid}/`,
      idtyp: "app",
      oid: t.oid,
      sub: t.sub ?? t.oid,
      tid: t.tid,
      uti: hex(8),
      ver: t.issuer ? "2.0" : "1.0",
    };
    if (t.roles) payload["roles"] = t.roles;
    const token = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${b64url(hex(32))}`;
    this.tokens.set(token, { ...t, realExp: Date.now() + (t.exp - iatMs) });
    return token;
  }

  /** undefined: unknown token; "expired": known but past exp. */
  validate(token: string): IssuedToken | "expired" | undefined {
    const t = this.tokens.get(token);
    if (!t) return undefined;
    if (t.realExp <= Date.now()) return "expired";
    return t;
  }
}

function entraError(
  req: SimRequest,
  now: number,
  status: number,
  error: string,
  code: number,
  text: string,
): SimResponse {
  const traceId = guid();
  const correlationId = req.headers["client-request-id"] ?? guid();
  const ts = entraTimestamp(now);
  return json(
    status,
    {
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${ts}`,
      error_codes: [code],
      timestamp: ts,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${req.origin}/error?code=${code}`,
    },
    { "cache-control": "no-store, no-cache", pragma: "no-cache", "x-ms-request-id": traceId },
  );
}

export class EntraEndpoint {
  constructor(
    private readonly store: Store,
    private readonly tokens: TokenRegistry,
    private readonly now: () => number,
    private readonly federation?: Federation,
  ) {}

  /** Routes under /{tenant}/...; undefined when the path is not an Entra one. */
  handle(req: SimRequest): SimResponse | undefined {
    const parts = req.url.pathname.split("/").filter(Boolean);
    const [tenantSeg, a, b, c] = parts;
    if (!tenantSeg) return undefined;
    if (req.method === "GET" && a === "v2.0" && b === ".well-known" && c === "openid-configuration" && parts.length === 4) {
      return this.discovery(req, tenantSeg);
    }
    if (req.method === "GET" && a === "discovery" && b === "v2.0" && c === "keys" && parts.length === 4) {
      return json(200, { keys: [] });
    }
    if (a === "oauth2" && b === "v2.0" && c === "token" && parts.length === 4) {
      if (req.method !== "POST") return json(405, { error: "invalid_request", error_description: "AADSTS900561: The endpoint only accepts POST requests." });
      return this.token(req, tenantSeg);
    }
    return undefined;
  }

  /**
   * The tenant's OpenID configuration. For an unknown tenant Entra answers 400 `invalid_tenant` with AADSTS90002
   * (the body of the token endpoint's error); MSAL then fails before any token request with
   * `endpoints_resolution_error`, the AADSTS code not surfaced.
   */
  private discovery(req: SimRequest, tenantSeg: string): SimResponse {
    const t = this.store.findTenant(tenantSeg);
    if (!t) {
      return entraError(
        req,
        this.now(),
        400,
        "invalid_tenant",
        90002,
        `Tenant '${tenantSeg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      );
    }
    const tid = t?.id ?? tenantSeg;
    const base = `${req.origin}/${tenantSeg}`;
    return json(200, {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${req.origin}/${tenantSeg}/discovery/v2.0/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      issuer: `${req.origin}/${tid}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${req.origin}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ["sub", "iss", "aud", "exp", "iat", "tid", "roles"],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: "EU",
      cloud_instance_name: "microsoftonline.com",
      cloud_graph_host_name: "graph.windows.net",
      msgraph_host: req.url.host,
      rbac_url: "https://pas.windows.net",
    });
  }

  private token(req: SimRequest, tenantSeg: string): SimResponse {
    const now = this.now();
    const form = new URLSearchParams(req.bodyText);
    const t = this.store.findTenant(tenantSeg);
    if (!t) {
      return entraError(
        req,
        now,
        400,
        "invalid_request",
        90002,
        `Tenant '${tenantSeg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      );
    }
    const grant = form.get("grant_type");
    if (grant !== "client_credentials") {
      return entraError(req, now, 400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grant ?? ""}'.`);
    }
    const clientId = (form.get("client_id") ?? "").toLowerCase();
    if (!clientId) return entraError(req, now, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.");
    const scope = form.get("scope") ?? "";
    if (!scope) return entraError(req, now, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
    const resourceScope = scope.split(/\s+/).find((s) => s.endsWith("/.default"));
    if (!resourceScope) {
      return entraError(
        req,
        now,
        400,
        "invalid_scope",
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const app = t.apps.get(clientId);
    if (!app) {
      return entraError(
        req,
        now,
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${t.displayName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    if (!app.enabled) {
      return entraError(req, now, 400, "unauthorized_client", 7000112, `Application '${app.clientId}'(${app.displayName}) is disabled.`);
    }
    const assertion = form.get("client_assertion");
    if (assertion !== null && this.federation) {
      const check = this.federation.checkAssertion(app.clientId, form.get("client_assertion_type"), assertion);
      if (!check.ok) return entraError(req, now, check.status, check.error, check.code, check.text);
      return this.grant(t, app, resourceScope, now);
    }
    const secret = form.get("client_secret");
    if (!secret) {
      return entraError(req, now, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const match = app.secrets.find((s) => s.value === secret);
    if (!match) {
      return entraError(
        req,
        now,
        401,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
      );
    }
    if (Date.parse(match.endDateTime) <= now) {
      return entraError(
        req,
        now,
        401,
        "invalid_client",
        7000222,
        `The provided client secret keys for app '${app.clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
      );
    }
    return this.grant(t, app, resourceScope, now);
  }

  /** The access token of an app (its service principal in tenant t: the roles consented there). */
  private grant(t: { id: string }, app: { clientId: string; objectId: string; roles: string[] }, resourceScope: string, now: number): SimResponse {
    const aud = resourceScope.slice(0, -"/.default".length);
    const access_token = this.tokens.issue(
      {
        tid: t.id,
        appid: app.clientId,
        oid: app.objectId,
        roles: app.roles.length > 0 ? [...app.roles] : undefined,
        aud,
        exp: now + TOKEN_LIFETIME_S * 1000,
      },
      now,
    );
    return json(
      200,
      { token_type: "Bearer", expires_in: TOKEN_LIFETIME_S, ext_expires_in: TOKEN_LIFETIME_S, access_token },
      { "cache-control": "no-store, no-cache", pragma: "no-cache" },
    );
  }
}
