import type { SecretClient } from "@azure/keyvault-secrets";
import { EntraSyncError } from "../errors.js";
import { registerSecretValue } from "../log.js";
import { statusOf } from "../state/tables-client.js";
import { secretNameFor } from "../tenants/model.js";

/** What is known of a stored client secret without its value. */
export interface SecretInfo {
  tenantId: string;
  name: string;
  version: string;
  expiresOn: Date | undefined;
  updatedOn: Date | undefined;
  enabled: boolean;
}

/** A client secret with its value: hold it only as long as it takes to get a token. */
export interface ClientSecret extends SecretInfo {
  value: string;
}

/** Customers' client secrets in Key Vault, one secret per tenant (`tenant-<tenantId>`), with the expiry date. */
export class SecretStore {
  constructor(private readonly client: SecretClient) {}

  async set(tenantId: string, value: string, expiresOn: Date | undefined, clientId: string): Promise<SecretInfo> {
    if (!value || value.trim() !== value || value.length < 8)
      throw new EntraSyncError("INPUT_INVALID", "The client secret is empty, too short or has surrounding spaces: paste the secret's Value exactly (not its Secret ID).", { field: "secret" });
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value))
      throw new EntraSyncError("INPUT_INVALID", "That looks like the Secret ID (a GUID), not the secret's Value. In the Entra admin center copy the Value column of the client secret (it is shown only once, right after the secret is made).", { field: "secret" });
    registerSecretValue(value);
    try {
      const s = await this.client.setSecret(secretNameFor(tenantId), value, {
        ...(expiresOn ? { expiresOn } : {}),
        contentType: "entra-client-secret",
        tags: { tenantId, clientId },
      });
      return info(tenantId, s.properties);
    } catch (e) {
      throw vaultError(e, `store the client secret of tenant ${tenantId}`);
    }
  }

  async get(tenantId: string): Promise<ClientSecret> {
    try {
      const s = await this.client.getSecret(secretNameFor(tenantId));
      if (!s.value) throw new EntraSyncError("SECRET_MISSING", `The client secret of tenant ${tenantId} is empty in Key Vault. Store it with \`entra-sync secret set --tenant ${tenantId} --expires <YYYY-MM-DD> --from-stdin\`.`, { retryable: false });
      registerSecretValue(s.value);
      return { ...info(tenantId, s.properties), value: s.value };
    } catch (e) {
      if (statusOf(e) === 404)
        throw new EntraSyncError("SECRET_MISSING", `No client secret is stored for tenant ${tenantId}. Store it with \`entra-sync secret set --tenant ${tenantId} --expires <YYYY-MM-DD> --from-stdin\`.`, { cause: e, retryable: false });
      throw vaultError(e, `read the client secret of tenant ${tenantId}`);
    }
  }

  /** Properties (never values) of every tenant's secret: one paged listing. */
  async listInfo(): Promise<SecretInfo[]> {
    const out: SecretInfo[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecrets()) {
        const m = /^tenant-([0-9a-f-]{36})$/.exec(p.name);
        if (m) out.push(info(m[1]!, p));
      }
    } catch (e) {
      throw vaultError(e, "list client secrets");
    }
    return out;
  }
}

function info(tenantId: string, p: { name: string; version?: string | undefined; expiresOn?: Date | undefined; updatedOn?: Date | undefined; enabled?: boolean | undefined }): SecretInfo {
  return { tenantId, name: p.name, version: p.version ?? "", expiresOn: p.expiresOn, updatedOn: p.updatedOn, enabled: p.enabled ?? true };
}

function vaultError(e: unknown, what: string): EntraSyncError {
  if (e instanceof EntraSyncError) return e;
  const status = statusOf(e);
  if (status === 401 || status === 403)
    return new EntraSyncError("CONFIG_INVALID", `Key Vault refused to ${what} (HTTP ${status}): give this app's identity the role Key Vault Secrets User (the CLI's user: Key Vault Secrets Officer).`, { cause: e, retryable: false });
  return new EntraSyncError("STORAGE_FAILED", `Key Vault could not ${what}${status ? ` (HTTP ${status})` : ""}.`, { cause: e });
}
