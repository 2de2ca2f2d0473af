import type { PasswordCredentialInfo, TenantGraph } from "../graph/tenant-graph.js";
import { DAY_MS } from "./thresholds.js";

/** What Entra says about the stored secret. */
export type EntraExpiry =
  | { kind: "found"; endDateTime: Date; keyId: string }
  | { kind: "noMatch"; credentials: number }
  | { kind: "denied" };

/**
 * Reads the tenant's own application object (`GET /applications(appId='…')?$select=passwordCredentials`, which
 * needs Application.Read.All) and finds the credential whose hint (the first three characters of a secret) equals
 * the stored secret's. The secret value is used only for that comparison: it is not kept, logged or returned.
 * Several matches (three characters can collide) resolve to the one closest to Key Vault's date, else the earliest.
 * A 403 means the permission was not granted: `denied`, not an error; an app not found has no match. Other failures
 * throw a classified error.
 */
export async function discoverEntraExpiry(graph: Pick<TenantGraph, "passwordCredentials">, secretValue: string, keyVaultExpiresOn: Date | undefined): Promise<EntraExpiry> {
  const creds: PasswordCredentialInfo[] | "denied" = await graph.passwordCredentials();
  if (creds === "denied") return { kind: "denied" };
  const matches = creds.filter((c) => typeof c.hint === "string" && c.hint.length > 0 && secretValue.startsWith(c.hint) && c.endDateTime && !Number.isNaN(Date.parse(c.endDateTime)));
  if (matches.length === 0) return { kind: "noMatch", credentials: creds.length };
  const ref = keyVaultExpiresOn?.getTime();
  matches.sort((a, b) => {
    const ta = Date.parse(a.endDateTime!);
    const tb = Date.parse(b.endDateTime!);
    return ref === undefined ? ta - tb : Math.abs(ta - ref) - Math.abs(tb - ref) || ta - tb;
  });
  const best = matches[0]!;
  return { kind: "found", endDateTime: new Date(best.endDateTime!), keyId: best.keyId ?? "" };
}

/** Entra's date minus Key Vault's in whole days, or undefined when they agree within a day. */
export function mismatchDays(entra: Date, keyVault: Date | undefined): number | undefined {
  if (!keyVault) return undefined;
  const diff = entra.getTime() - keyVault.getTime();
  if (Math.abs(diff) < DAY_MS) return undefined;
  return Math.round(diff / DAY_MS);
}
