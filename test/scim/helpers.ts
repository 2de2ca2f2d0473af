import { fetch } from "undici";
import { afterAll, beforeAll, expect } from "vitest";
import { startHttpHost, type HttpHost } from "../../dev/http-host.js";
import type { App } from "../../src/composition.js";
import { provideApp } from "../../src/functions/app.js";

export const SCIM_JSON = /^application\/scim\+json/;

export interface ScimCall {
  status: number;
  headers: Headers | { get(name: string): string | null };
  body: Record<string, unknown> | undefined;
  text: string;
}

/** A SCIM client for one tenant URL and token, as Entra's provisioning service calls it. */
export function scimClient(baseUrl: string, token: string, o: { contentType?: string } = {}) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ScimCall> => {
    const r = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": o.contentType ?? "application/scim+json; charset=utf-8" }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await r.text();
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: r.status, headers: r.headers, body: parsed, text };
  };
}

/** An RFC 7644 §3.12 error answer: status as a string, the Error schema, application/scim+json. */
export function expectScimError(r: ScimCall, status: number, scimType?: string): void {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get("content-type")).toMatch(SCIM_JSON);
  expect(r.body).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: String(status) });
  if (scimType) expect(r.body?.scimType).toBe(scimType);
  else expect(r.body?.scimType).toBeUndefined();
  expect(typeof r.body?.detail).toBe("string");
  expect(r.text).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack
}

/** Microsoft's example POST /Users body (the SCIM tutorial), with our values. */
export function entraUser(userName: string, externalId: string, extra: Record<string, unknown> = {}) {
  return {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    externalId,
    userName,
    active: true,
    emails: [{ primary: true, type: "work", value: userName }],
    meta: { resourceType: "User" },
    name: { formatted: "Ada Lovelace", familyName: "Lovelace", givenName: "Ada" },
    roles: [],
    ...extra,
  };
}

/** Serves the registered HTTP functions (SCIM included) over real HTTP for the test file, on the given app. */
export function serveOverHttp(app: () => App): { url(): string } {
  let host: HttpHost | undefined;
  beforeAll(async () => {
    provideApp(app());
    host = await startHttpHost();
  });
  afterAll(async () => {
    await host?.close();
    provideApp(undefined);
  });
  return { url: () => host!.url };
}
