/**
 * Workload identity federation, as Entra documents it for "an application that trusts a managed identity":
 *
 * - the managed identity endpoint of App Service / Azure Functions (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, API
 *   2019-08-01), which ManagedIdentityCredential asks for the identity's token;
 * - federated identity credentials on app registrations (issuer, subject, audiences; case-sensitive, no wildcards);
 * - the token endpoint's `client_assertion` (jwt-bearer) check, with Entra's documented errors: AADSTS70021 (the app
 *   has no federated credential), 700211 (none with the assertion's issuer), 700213 (subject), 700212 (audience),
 *   700024 (assertion outside its validity), 700027 (not a token this issuer signed), 50027 (not a JWT).
 *
 * An assertion is "signed" when the simulator issued it: the token registry stands in for the signature check.
 */
import { json, type SimRequest, type SimResponse } from "./http.js";
import type { IssuedToken, TokenRegistry } from "./entra.js";
import { guid } from "./util.js";

export const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** The path ManagedIdentityCredential is pointed at through IDENTITY_ENDPOINT. */
export const MANAGED_IDENTITY_PATH = "/msi/token";
/** Managed identity tokens live about a day. */
const MI_TOKEN_LIFETIME_S = 24 * 3600;

export interface SimManagedIdentity {
  /** Client id (what MANAGED_IDENTITY_CLIENT_ID names). */
  clientId: string;
  /** Object (principal) id: the subject of its tokens and of a federated credential that trusts it. */
  principalId: string;
  tenantId: string;
}

export interface SimFederatedCredential {
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
}

/** What a token request's assertion check concluded. */
export type AssertionCheck =
  | { ok: true }
  | { ok: false; status: number; error: string; code: number; text: string };

export class Federation {
  /** User-assigned identities assigned to the (simulated) function app, by client id. */
  readonly identities = new Map<string, SimManagedIdentity>();
  /** Federated identity credentials of app registrations, by the app's client id (app ids are global). */
  readonly credentials = new Map<string, SimFederatedCredential[]>();
  /** The value App Service puts in IDENTITY_HEADER: requests without it are refused. */
  readonly identityHeader = guid();

  constructor(
    private readonly tokens: TokenRegistry,
    private readonly now: () => number,
  ) {}

  addIdentity(tenantId: string, input: { clientId?: string; principalId?: string } = {}): SimManagedIdentity {
    const mi = { clientId: (input.clientId ?? guid()).toLowerCase(), principalId: (input.principalId ?? guid()).toLowerCase(), tenantId: tenantId.toLowerCase() };
    this.identities.set(mi.clientId, mi);
    return mi;
  }

  /** Replaces the app's federated credentials (Entra accepts anything here; a mismatch shows only at token time). */
  setCredentials(appClientId: string, credentials: SimFederatedCredential[]): void {
    if (credentials.length > 20) throw new Error("an application holds at most 20 federated identity credentials");
    const names = new Set(credentials.map((c) => c.name));
    if (names.size !== credentials.length) throw new Error("federated identity credential names must be unique on the app");
    for (const c of credentials) if (c.audiences.length !== 1) throw new Error(`federated credential ${c.name}: exactly one audience is allowed`);
    this.credentials.set(appClientId.toLowerCase(), credentials.map((c) => ({ ...c, audiences: [...c.audiences] })));
  }

  /** `GET /msi/token?api-version=2019-08-01&resource=…&client_id=…` with `X-IDENTITY-HEADER`. */
  handleIdentityEndpoint(req: SimRequest): SimResponse {
    if (req.method !== "GET") return json(405, { statusCode: 405, message: "Only GET is supported." });
    if (req.headers["x-identity-header"] !== this.identityHeader) return json(401, { statusCode: 401, message: "The X-IDENTITY-HEADER header is missing or wrong." });
    const q = req.url.searchParams;
    if (q.get("api-version") !== "2019-08-01") return json(400, { statusCode: 400, message: `Unsupported api-version '${q.get("api-version") ?? ""}'.` });
    const resource = q.get("resource");
    if (!resource) return json(400, { statusCode: 400, message: "The resource parameter is required." });
    const clientId = q.get("client_id")?.toLowerCase();
    const mi = clientId ? this.identities.get(clientId) : undefined;
    if (!mi) return json(400, { statusCode: 400, message: "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.", correlationId: guid() });
    const now = this.now();
    const access_token = this.tokens.issue(
      {
        tid: mi.tenantId,
        appid: mi.clientId,
        oid: mi.principalId,
        sub: mi.principalId,
        issuer: `${req.origin}/${mi.tenantId}/v2.0`,
        roles: undefined,
        aud: resource,
        exp: now + MI_TOKEN_LIFETIME_S * 1000,
      },
      now,
    );
    return json(200, { access_token, expires_on: String(Math.floor(now / 1000) + MI_TOKEN_LIFETIME_S), resource, token_type: "Bearer", client_id: mi.clientId });
  }

  /** Checks a jwt-bearer client assertion presented for `appClientId` against the app's federated credentials. */
  checkAssertion(appClientId: string, assertionType: string | null, assertion: string): AssertionCheck {
    if (assertionType !== JWT_BEARER)
      return { ok: false, status: 400, error: "invalid_request", code: 900144, text: `The request body must contain the following parameter: 'client_assertion_type' with the value '${JWT_BEARER}'.` };
    if (assertion.split(".").length !== 3) return { ok: false, status: 400, error: "invalid_request", code: 50027, text: "JWT token is invalid or malformed." };
    const t = this.tokens.validate(assertion);
    if (t === undefined) return { ok: false, status: 401, error: "invalid_client", code: 700027, text: "Client assertion failed signature validation." };
    if (t === "expired") return { ok: false, status: 400, error: "invalid_client", code: 700024, text: "Client assertion is not within its valid time range." };
    const claims = claimsOf(t);
    const all = this.credentials.get(appClientId.toLowerCase()) ?? [];
    const seen = `Assertion Issuer: '${claims.iss}'. Assertion Subject: '${claims.sub}'. Assertion Audience: '${claims.aud}'.`;
    const advice = "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation";
    if (all.length === 0) return { ok: false, status: 400, error: "invalid_request", code: 70021, text: `No matching federated identity record found for presented assertion. ${seen}` };
    const byIssuer = all.filter((c) => c.issuer === claims.iss);
    if (byIssuer.length === 0) return { ok: false, status: 401, error: "invalid_client", code: 700211, text: `No matching federated identity record found for presented assertion issuer '${claims.iss}'. ${advice}` };
    const bySubject = byIssuer.filter((c) => c.subject === claims.sub);
    if (bySubject.length === 0) return { ok: false, status: 401, error: "invalid_client", code: 700213, text: `No matching federated identity record found for presented assertion subject '${claims.sub}'. ${advice}` };
    if (!bySubject.some((c) => c.audiences.includes(claims.aud)))
      return { ok: false, status: 401, error: "invalid_client", code: 700212, text: `No matching federated identity record found for presented assertion audience '${claims.aud}'. ${advice}` };
    return { ok: true };
  }
}

/** The claims of an issued token that a federated credential is matched on. */
function claimsOf(t: IssuedToken): { iss: string; sub: string; aud: string } {
  return { iss: t.issuer ?? `https://sts.windows.net/${t.tid}/`, sub: t.sub ?? t.oid, aud: t.aud };
}

/** Entra's answer to a refused token request (shared shape with the rest of the token endpoint). */
export type EntraErrorFn = (status: number, error: string, code: number, text: string) => SimResponse;

export function assertionError(check: Exclude<AssertionCheck, { ok: true }>, fail: EntraErrorFn): SimResponse {
  return fail(check.status, check.error, check.code, check.text);
}
