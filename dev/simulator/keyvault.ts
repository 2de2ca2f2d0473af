/** Key Vault secrets API (the calls @azure/keyvault-secrets 4.x makes), with its challenge-based auth. */
import type { TokenRegistry } from "./entra.js";
import { bearer, json, parseJsonBody, type SimRequest, type SimResponse } from "./http.js";
import { encodeToken, decodeToken, hex, isRecord } from "./util.js";

const VAULT_AUDIENCES = new Set(["https://vault.azure.net", "https://vault.azure.net/", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"]);
const NAME_RE = /^[0-9a-zA-Z-]{1,127}$/;

interface Attributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

interface Version {
  version: string;
  value: string;
  attributes: Attributes;
  tags: Record<string, string> | undefined;
  contentType: string | undefined;
}

interface Secret {
  name: string;
  versions: Version[]; // oldest first
  deletedDate?: number;
  scheduledPurgeDate?: number;
}

export interface VaultPrincipal {
  tenantId: string;
  clientId: string;
}

export class KeyVault {
  private secrets = new Map<string, Secret>(); // key: lower-case name
  private deleted = new Map<string, Secret>();

  constructor(
    private readonly tokens: TokenRegistry,
    private readonly principal: VaultPrincipal,
    private readonly now: () => number,
  ) {}

  static isVaultPath(pathname: string): boolean {
    return /^\/(secrets|deletedsecrets)(\/|$)/i.test(pathname);
  }

  private nowS(): number {
    return Math.floor(this.now() / 1000);
  }

  private kvErr(status: number, code: string, message: string, inner?: string, headers: Record<string, string> = {}): SimResponse {
    const error: Record<string, unknown> = { code, message };
    if (inner) error["innererror"] = { code: inner };
    return json(status, { error }, { "x-ms-keyvault-service-version": "1.9.0.0", "x-ms-request-id": hex(16), ...headers });
  }

  private notFound(name: string, version?: string): SimResponse {
    return this.kvErr(
      404,
      "SecretNotFound",
      `A secret with (name/id) ${name}${version ? `/${version}` : ""} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    );
  }

  private bundle(origin: string, s: Secret, v: Version, withValue: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (withValue) out["value"] = v.value;
    out["id"] = `${origin}/secrets/${s.name}/${v.version}`;
    if (v.contentType !== undefined) out["contentType"] = v.contentType;
    out["attributes"] = { ...v.attributes, recoveryLevel: "Recoverable+Purgeable", recoverableDays: 90 };
    if (v.tags !== undefined) out["tags"] = v.tags;
    return out;
  }

  private item(origin: string, s: Secret, v: Version, withVersion: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = { id: withVersion ? `${origin}/secrets/${s.name}/${v.version}` : `${origin}/secrets/${s.name}` };
    out["attributes"] = { ...v.attributes, recoveryLevel: "Recoverable+Purgeable", recoverableDays: 90 };
    if (v.tags !== undefined) out["tags"] = v.tags;
    if (v.contentType !== undefined) out["contentType"] = v.contentType;
    return out;
  }

  private deletedBundle(origin: string, s: Secret, withValue: boolean): Record<string, unknown> {
    const latest = s.versions[s.versions.length - 1]!;
    return {
      ...this.bundle(origin, s, latest, withValue),
      recoveryId: `${origin}/deletedsecrets/${s.name}`,
      deletedDate: s.deletedDate,
      scheduledPurgeDate: s.scheduledPurgeDate,
    };
  }

  /** Checks the bearer token; answers the 401 challenge / 403. */
  private authorize(req: SimRequest): SimResponse | undefined {
    const challenge = {
      "www-authenticate": `Bearer authorization="${req.origin}/${this.principal.tenantId}", resource="https://vault.azure.net"`,
    };
    const tok = bearer(req.headers);
    if (!tok) return this.kvErr(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", undefined, challenge);
    const t = this.tokens.validate(tok);
    if (t === "expired") return this.kvErr(401, "Unauthorized", "AKV10022: Invalid audience or token expired.", "TokenExpired", challenge);
    if (!t) return this.kvErr(401, "Unauthorized", "AKV10021: Invalid token.", undefined, challenge);
    if (t.tid !== this.principal.tenantId || t.appid !== this.principal.clientId || !VAULT_AUDIENCES.has(t.aud)) {
      return this.kvErr(
        403,
        "Forbidden",
        `Caller is not authorized to perform action on resource. Caller: appid=${t.appid};oid=${t.oid};iss=https://sts.windows.net/${t.tid}/ Vault: simulator;location=local`,
        "ForbiddenByRbac",
      );
    }
    return undefined;
  }

  handle(req: SimRequest): SimResponse {
    const denied = this.authorize(req);
    if (denied) return denied;
    const res = this.route(req);
    res.headers["x-ms-keyvault-service-version"] ??= "1.9.0.0";
    res.headers["x-ms-request-id"] ??= hex(16);
    return res;
  }

  private route(req: SimRequest): SimResponse {
    const segs = req.url.pathname.split("/").filter(Boolean).map((s) => decodeURIComponent(s));
    const [coll, name, third, fourth] = segs;
    const m = req.method;
    const origin = req.origin;
    if (coll?.toLowerCase() === "secrets") {
      if (name === undefined) {
        if (m === "GET") return this.listSecrets(req);
        return this.kvErr(405, "BadParameter", "Method not allowed.");
      }
      if (!NAME_RE.test(name)) return this.kvErr(400, "BadParameter", "The request URI contains an invalid name: " + name);
      if (third?.toLowerCase() === "versions" && fourth === undefined && m === "GET") return this.listVersions(req, name);
      if (fourth !== undefined) return this.kvErr(400, "BadParameter", "Invalid request path.");
      if (m === "PUT" && third === undefined) return this.setSecret(req, name);
      if (m === "GET") return this.getSecret(origin, name, third);
      if (m === "PATCH") return this.updateSecret(req, name, third);
      if (m === "DELETE" && third === undefined) return this.deleteSecret(origin, name);
      return this.kvErr(405, "BadParameter", "Method not allowed.");
    }
    // deletedsecrets
    if (name === undefined) {
      if (m !== "GET") return this.kvErr(405, "BadParameter", "Method not allowed.");
      const value = [...this.deleted.values()].map((s) => {
        const { value: _omit, ...rest } = this.deletedBundle(origin, s, false);
        void _omit;
        return { ...rest, id: `${origin}/secrets/${s.name}` };
      });
      return json(200, { value, nextLink: null });
    }
    const d = this.deleted.get(name.toLowerCase());
    if (!d) return this.kvErr(404, "SecretNotFound", `Deleted Secret not found: ${name}`);
    if (m === "GET" && third === undefined) return json(200, this.deletedBundle(origin, d, false));
    if (m === "DELETE" && third === undefined) {
      this.deleted.delete(name.toLowerCase());
      return { status: 204, headers: {} };
    }
    if (m === "POST" && third?.toLowerCase() === "recover") {
      this.deleted.delete(name.toLowerCase());
      delete d.deletedDate;
      delete d.scheduledPurgeDate;
      this.secrets.set(name.toLowerCase(), d);
      return json(200, this.bundle(origin, d, d.versions[d.versions.length - 1]!, false));
    }
    return this.kvErr(405, "BadParameter", "Method not allowed.");
  }

  private parseAttributes(raw: unknown): Partial<Attributes> | "bad" {
    if (raw === undefined || raw === null) return {};
    if (!isRecord(raw)) return "bad";
    const out: Partial<Attributes> = {};
    if (raw["enabled"] !== undefined) {
      if (typeof raw["enabled"] !== "boolean") return "bad";
      out.enabled = raw["enabled"];
    }
    for (const k of ["exp", "nbf"] as const) {
      const v = raw[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== "number") return "bad";
      out[k] = Math.floor(v);
    }
    return out;
  }

  private setSecret(req: SimRequest, name: string): SimResponse {
    const key = name.toLowerCase();
    if (this.deleted.has(key)) {
      return this.kvErr(409, "Conflict", `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`, "ObjectIsDeletedButRecoverable");
    }
    const parsed = parseJsonBody(req.bodyText);
    if (!parsed.ok || !isRecord(parsed.value) || typeof parsed.value["value"] !== "string") {
      return this.kvErr(400, "BadParameter", "Property 'value' is required and must be a string.");
    }
    const body = parsed.value;
    const attrs = this.parseAttributes(body["attributes"]);
    if (attrs === "bad") return this.kvErr(400, "BadParameter", "Invalid attributes.");
    const tags = isRecord(body["tags"]) ? Object.fromEntries(Object.entries(body["tags"]).map(([k, v]) => [k, String(v)])) : undefined;
    const contentType = typeof body["contentType"] === "string" ? body["contentType"] : undefined;
    const now = this.nowS();
    let s = this.secrets.get(key);
    if (!s) {
      s = { name, versions: [] };
      this.secrets.set(key, s);
    }
    const v: Version = {
      version: hex(16),
      value: body["value"] as string,
      attributes: { enabled: attrs.enabled ?? true, created: now, updated: now, ...(attrs.exp !== undefined ? { exp: attrs.exp } : {}), ...(attrs.nbf !== undefined ? { nbf: attrs.nbf } : {}) },
      tags,
      contentType,
    };
    s.versions.push(v);
    return json(200, this.bundle(req.origin, s, v, true));
  }

  private findVersion(s: Secret, version: string | undefined): Version | undefined {
    if (!version) return s.versions[s.versions.length - 1];
    return s.versions.find((v) => v.version === version.toLowerCase());
  }

  private getSecret(origin: string, name: string, version: string | undefined): SimResponse {
    const s = this.secrets.get(name.toLowerCase());
    const v = s ? this.findVersion(s, version) : undefined;
    if (!s || !v) return this.notFound(name, version);
    if (!v.attributes.enabled) return this.kvErr(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled");
    return json(200, this.bundle(origin, s, v, true));
  }

  private updateSecret(req: SimRequest, name: string, version: string | undefined): SimResponse {
    const s = this.secrets.get(name.toLowerCase());
    const v = s ? this.findVersion(s, version) : undefined;
    if (!s || !v) return this.notFound(name, version);
    const parsed = parseJsonBody(req.bodyText);
    if (!parsed.ok || (parsed.value !== undefined && !isRecord(parsed.value))) return this.kvErr(400, "BadParameter", "Invalid request body.");
    const body = (parsed.value ?? {}) as Record<string, unknown>;
    const attrs = this.parseAttributes(body["attributes"]);
    if (attrs === "bad") return this.kvErr(400, "BadParameter", "Invalid attributes.");
    if (attrs.enabled !== undefined) v.attributes.enabled = attrs.enabled;
    if (attrs.exp !== undefined) v.attributes.exp = attrs.exp;
    if (attrs.nbf !== undefined) v.attributes.nbf = attrs.nbf;
    if (isRecord(body["tags"])) v.tags = Object.fromEntries(Object.entries(body["tags"]).map(([k, val]) => [k, String(val)]));
    if (typeof body["contentType"] === "string") v.contentType = body["contentType"];
    v.attributes.updated = this.nowS();
    return json(200, this.bundle(req.origin, s, v, false));
  }

  private deleteSecret(origin: string, name: string): SimResponse {
    const key = name.toLowerCase();
    const s = this.secrets.get(key);
    if (!s) return this.notFound(name);
    this.secrets.delete(key);
    const now = this.nowS();
    s.deletedDate = now;
    s.scheduledPurgeDate = now + 90 * 24 * 3600;
    this.deleted.set(key, s);
    return json(200, this.deletedBundle(origin, s, false));
  }

  private page<T>(req: SimRequest, all: T[], basePath: string): SimResponse | { items: T[]; nextLink: string | null } {
    const q = req.url.searchParams;
    const maxRaw = q.get("maxresults");
    const max = maxRaw === null ? 25 : Number(maxRaw);
    if (!Number.isInteger(max) || max < 1 || max > 25) return this.kvErr(400, "BadParameter", "maxresults must be between 1 and 25.");
    const skip = q.get("$skiptoken");
    const start = skip ? (decodeToken<{ o: number }>(skip)?.o ?? 0) : 0;
    const items = all.slice(start, start + max);
    let nextLink: string | null = null;
    if (start + max < all.length) {
      const p = new URLSearchParams();
      p.set("api-version", q.get("api-version") ?? "7.6");
      p.set("$skiptoken", encodeToken({ o: start + max }));
      p.set("maxresults", String(max));
      nextLink = `${req.origin}${basePath}?${p.toString()}`;
    }
    return { items, nextLink };
  }

  private listSecrets(req: SimRequest): SimResponse {
    const all = [...this.secrets.values()].sort((a, b) => a.name.localeCompare(b.name));
    const p = this.page(req, all, "/secrets");
    if ("status" in p) return p;
    return json(200, { value: p.items.map((s) => this.item(req.origin, s, s.versions[s.versions.length - 1]!, false)), nextLink: p.nextLink });
  }

  private listVersions(req: SimRequest, name: string): SimResponse {
    const s = this.secrets.get(name.toLowerCase());
    if (!s) return this.notFound(name);
    const p = this.page(req, s.versions, `/secrets/${s.name}/versions`);
    if ("status" in p) return p;
    return json(200, { value: p.items.map((v) => this.item(req.origin, s, v, true)), nextLink: p.nextLink });
  }
}
