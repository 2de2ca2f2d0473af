import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Settings } from "../config/settings.js";

/*
 * Who may use the status page, and proof that a form was sent from the page itself.
 *
 * - `appservice`: App Service Authentication (Entra ID) sits in front of the app. It signs the operator in, strips any
 *   `X-MS-CLIENT-PRINCIPAL*` header a client sends, and passes the signed-in user's as request headers; the page
 *   also checks the user's `groups` claim against STATUS_PAGE_OPERATORS_GROUP.
 * - `local`: a sign-in form that takes STATUS_PAGE_KEY and sets a signed session cookie (the local stack).
 *
 * Every action is a POST carrying a confirmation token: an HMAC, with a key derived from STATUS_PAGE_KEY, of the
 * operator, the tenant, the action and its argument (e.g. the reviewed plan's run id) and an expiry. A token made for
 * one operator's confirmation of one action opens nothing else, and no other site can make one.
 */

/** The signed-in operator. */
export interface Operator {
  /** Stable id: the Entra object id (appservice) or the session id (local). */
  id: string;
  name: string;
}

/** The request as the page's access rules need it. */
export interface AccessRequest {
  header(name: string): string | null;
  /** https: cookies get `Secure`. */
  secure: boolean;
}

export type AccessResult = { ok: true; operator: Operator } | { ok: false; status: 401 | 403 | 503; reason: string; signIn?: string };

export const SESSION_COOKIE = "entra_sync_status";
const SESSION_HOURS = 8;
const CONFIRM_MINUTES = 30;
/** Where the page lives (cookies are scoped to it). */
export const UI_BASE = "/api/ui";

function signingKey(settings: Settings): Buffer | undefined {
  const k = settings.statusPage.key;
  return k ? createHmac("sha256", k).update("entra-sync status page signing key").digest() : undefined;
}

const mac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest("base64url");

function sameText(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

function cookie(req: AccessRequest, name: string): string | undefined {
  for (const part of (req.header("cookie") ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const notConfigured = (): AccessResult => ({
  ok: false,
  status: 503,
  reason: "The status page is not set up: set STATUS_PAGE_KEY (at least 32 random characters; in Azure the template makes it in Key Vault) and restart the app.",
});

/** Who is asking, or why not. */
export function authenticate(settings: Settings, req: AccessRequest, now: Date, returnTo: string): AccessResult {
  const key = signingKey(settings);
  if (!key) return notConfigured();
  if (settings.statusPage.auth === "local") {
    const raw = cookie(req, SESSION_COOKIE);
    const m = raw ? /^(\d{10,13})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/.exec(raw) : null;
    if (m && Number(m[1]) > now.getTime() && sameText(mac(key, `session|${m[1]}|${m[2]}`), m[3]!)) return { ok: true, operator: { id: `local-${m[2]}`, name: "local operator" } };
    return { ok: false, status: 401, reason: "Sign in with the status page key.", signIn: `${UI_BASE}/sign-in?next=${encodeURIComponent(returnTo)}` };
  }
  const id = req.header("x-ms-client-principal-id");
  if (!id) {
    return {
      ok: false,
      status: 401,
      reason: "Sign in with your Entra ID account (App Service Authentication).",
      signIn: `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(returnTo)}`,
    };
  }
  const name = req.header("x-ms-client-principal-name") ?? id;
  const group = settings.statusPage.operatorsGroup;
  if (group && !groupsOf(req.header("x-ms-client-principal")).has(group))
    return { ok: false, status: 403, reason: `${name} is signed in but not a member of the operators' group (${group}). Ask an owner of the group to add you, then sign in again.` };
  return { ok: true, operator: { id, name } };
}

/** The `groups` claims of App Service Authentication's `X-MS-CLIENT-PRINCIPAL` (base64 JSON), lower-cased. */
export function groupsOf(principal: string | null): Set<string> {
  const out = new Set<string>();
  if (!principal) return out;
  try {
    const p = JSON.parse(Buffer.from(principal, "base64").toString("utf8")) as { claims?: Array<{ typ?: unknown; val?: unknown }> };
    for (const c of p.claims ?? []) if (c.typ === "groups" && typeof c.val === "string") out.add(c.val.toLowerCase());
  } catch {
    // An unreadable principal names no group.
  }
  return out;
}

/** Local sign-in: the key typed in, compared in constant time; a session cookie when it is right. */
export function signIn(settings: Settings, req: AccessRequest, typed: string, now: Date): { ok: true; setCookie: string } | { ok: false; reason: string } {
  const key = signingKey(settings);
  if (!key || !settings.statusPage.key) return { ok: false, reason: "The status page is not set up: set STATUS_PAGE_KEY (at least 32 random characters) and restart the app." };
  if (settings.statusPage.auth !== "local") return { ok: false, reason: "This app signs operators in with Entra ID (App Service Authentication), not with a key." };
  if (!sameText(typed, settings.statusPage.key)) return { ok: false, reason: "That is not the status page key. Use STATUS_PAGE_KEY (npm run stack prints where to find it)." };
  const expires = now.getTime() + SESSION_HOURS * 3600_000;
  const nonce = randomBytes(16).toString("base64url");
  const value = `${expires}.${nonce}.${mac(key, `session|${expires}|${nonce}`)}`;
  return { ok: true, setCookie: `${SESSION_COOKIE}=${value}; Path=${UI_BASE}; HttpOnly; SameSite=Strict; Max-Age=${SESSION_HOURS * 3600}${req.secure ? "; Secure" : ""}` };
}

/** The cookie that ends a local session. */
export const signOutCookie = (req: AccessRequest): string => `${SESSION_COOKIE}=; Path=${UI_BASE}; HttpOnly; SameSite=Strict; Max-Age=0${req.secure ? "; Secure" : ""}`;

/** A confirmation token for one operator, one tenant, one action and its argument. */
export function confirmToken(settings: Settings, operator: Operator, purpose: string, now: Date): string {
  const key = signingKey(settings);
  if (!key) throw new Error("STATUS_PAGE_KEY is not set");
  const expires = now.getTime() + CONFIRM_MINUTES * 60_000;
  return `${expires}.${mac(key, `confirm|${operator.id}|${purpose}|${expires}`)}`;
}

/** Whether a confirmation token was made by this app for this operator, tenant, action and argument, and is fresh. */
export function checkConfirmToken(settings: Settings, operator: Operator, purpose: string, token: string, now: Date): boolean {
  const key = signingKey(settings);
  const m = /^(\d{10,13})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!key || !m || Number(m[1]) <= now.getTime()) return false;
  return sameText(mac(key, `confirm|${operator.id}|${purpose}|${m[1]}`), m[2]!);
}
