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

  private get vaultUrl(): string {
    return this.client.vaultUrl;
  }

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
      throw vaultError(e, `store the client secret of tenant ${tenantId}`, this.vaultUrl);
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
      throw vaultError(e, `read the client secret of tenant ${tenantId}`, this.vaultUrl);
    }
  }

  /** Properties (never values) of every tenant's secret: one paged listing. */
  /**
   * Deletes a tenant's client secret (offboarding): `purged` when gone for good, `softDeleted` when the vault's purge
   * protection keeps it recoverable until its retention ends, `absent` when there was none.
   */
  async delete(tenantId: string): Promise<"purged" | "softDeleted" | "absent"> {
    const name = secretNameFor(tenantId);
    try {
      const poller = await this.client.beginDeleteSecret(name);
      await poller.pollUntilDone();
    } catch (e) {
      if (statusOf(e) === 404) return "absent";
      throw vaultError(e, `delete the client secret of tenant ${tenantId}`, this.vaultUrl);
    }
    try {
      await this.client.purgeDeletedSecret(name);
      return "purged";
    } catch {
      return "softDeleted";
    }
  }

  async listInfo(): Promise<SecretInfo[]> {
    const out: SecretInfo[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecrets()) {
        const m = /^tenant-([0-9a-f-]{36})$/.exec(p.name);
        if (m) out.push(info(m[1]!, p));
      }
    } catch (e) {
      throw vaultError(e, "list client secrets", this.vaultUrl);
    }
    return out;
  }
}

function info(tenantId: string, p: { name: string; version?: string | undefined; expiresOn?: Date | undefined; updatedOn?: Date | undefined; enabled?: boolean | undefined }): SecretInfo {
  return { tenantId, name: p.name, version: p.version ?? "", expiresOn: p.expiresOn, updatedOn: p.updatedOn, enabled: p.enabled ?? true };
}

/** Node's and OpenSSL's codes for a TLS handshake that failed on the certificate. */
const TLS_CODES = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_[A-Z_]+|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z_]+)$/;
/** Codes of a connection that could not be made or was cut. */
const NETWORK_CODES = /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR_[A-Z_]+)$/;

/** The first `code` (and message) found along an error's cause chain. */
function codesOf(e: unknown): Array<{ code: string; message: string }> {
  const out: Array<{ code: string; message: string }> = [];
  for (let c: unknown = e, depth = 0; c && typeof c === "object" && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    out.push({ code: typeof code === "string" ? code : "", message: c instanceof Error ? c.message : "" });
  }
  return out;
}

function vaultError(e: unknown, what: string, vaultUrl?: string): EntraSyncError {
  if (e instanceof EntraSyncError) return e;
  const status = statusOf(e);
  if (status === 401 || status === 403)
    return new EntraSyncError("CONFIG_INVALID", `Key Vault refused to ${what} (HTTP ${status}): give this app's identity the role Key Vault Secrets User (the CLI's user: Key Vault Secrets Officer).`, { cause: e, retryable: false });
  const host = vaultUrl && URL.canParse(vaultUrl) ? new URL(vaultUrl).host : "the vault of KEY_VAULT_URL";
  const chain = codesOf(e);
  const tls = chain.find((c) => TLS_CODES.test(c.code));
  if (tls)
    return new EntraSyncError(
      "KEY_VAULT_UNTRUSTED",
      `Could not ${what}: the TLS certificate of Key Vault at ${host} is not trusted by this process (${tls.code}). In Azure, check that KEY_VAULT_URL is the vault's own URI (https://<name>.vault.azure.net/). On the local stack, start the process with NODE_EXTRA_CA_CERTS set to the stack's CA file (npm run stack writes it into local.settings.json and .local/stack.env).`,
      { cause: e, retryable: false },
    );
  const net = chain.find((c) => NETWORK_CODES.test(c.code));
  if (net)
    return new EntraSyncError(
      "KEY_VAULT_UNREACHABLE",
      `Could not ${what}: Key Vault at ${host} cannot be reached (${net.code}). Check KEY_VAULT_URL, the vault's network rules or private endpoint and DNS; on the local stack, that npm run stack is running and KEY_VAULT_URL is the one it printed.`,
      { cause: e, retryable: true },
    );
  if (chain.some((c) => /challenge resource .* does not match the requested domain/.test(c.message)))
    return new EntraSyncError(
      "CONFIG_INVALID",
      `Could not ${what}: Key Vault at ${host} asked for a token of another domain than its own, so none was sent. Set KEY_VAULT_URL to the vault's own URI (https://<name>.vault.azure.net/, or the national cloud's vault domain); KEY_VAULT_LOCAL_STACK=true is for the local stack's vault only.`,
      { cause: e, retryable: false },
    );
  return new EntraSyncError("STORAGE_FAILED", `Key Vault could not ${what}${status ? ` (HTTP ${status})` : ""}.`, { cause: e });
}
