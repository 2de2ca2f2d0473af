import { createServer } from "node:net";
import { SecretClient } from "@azure/keyvault-secrets";
import { describe, expect, it } from "vitest";
import { createApp, createPlatformCredential } from "../../src/composition.js";
import { loadSettings } from "../../src/config/settings.js";
import { EntraSyncError } from "../../src/errors.js";
import { runCli } from "../../src/cli/main.js";
import { SecretStore } from "../../src/secrets/store.js";
import { addTenant } from "../../src/tenants/onboarding.js";
import { useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();
const TENANT = "0b5d2c1e-1111-4222-8333-944444444444";

async function errorOf(p: Promise<unknown>): Promise<EntraSyncError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(EntraSyncError);
    return e as EntraSyncError;
  }
  throw new Error("expected a failure");
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A store on the simulator's vault with SDK retries off (the classification is under test, not the SDK's retries). */
function storeAt(url: string, o: { trustCa: boolean }): SecretStore {
  const { settings, sim } = stackOf();
  return new SecretStore(
    new SecretClient(url, createPlatformCredential(settings, sim.ca), {
      retryOptions: { maxRetries: 0 },
      disableChallengeResourceVerification: true,
      ...(o.trustCa ? { tlsOptions: { ca: sim.ca } } : {}),
    }),
  );
}

describe("Key Vault failures are told apart", () => {
  it("a vault whose TLS certificate this process does not trust: KEY_VAULT_UNTRUSTED (configuration), not retryable, with what to do", async () => {
    const e = await errorOf(storeAt(stackOf().sim.keyVaultUrl, { trustCa: false }).get(TENANT));
    expect(e.code).toBe("KEY_VAULT_UNTRUSTED");
    expect(e.errorClass).toBe("configuration");
    expect(e.retryable).toBe(false);
    expect(e.message).toContain("NODE_EXTRA_CA_CERTS");
    expect(e.message).not.toContain(stackOf().env.PLATFORM_CLIENT_SECRET!);
  });

  it("a vault nobody answers at: KEY_VAULT_UNREACHABLE (transient), retryable", async () => {
    const e = await errorOf(storeAt(`https://127.0.0.1:${await closedPort()}/`, { trustCa: true }).listInfo());
    expect(e.code).toBe("KEY_VAULT_UNREACHABLE");
    expect(e.errorClass).toBe("transient");
    expect(e.retryable).toBe(true);
  });
});

describe("the CLI's exit code follows the class of a Key Vault failure", () => {
  const tenantId = "0b5d2c1e-2222-4222-8333-944444444444";
  async function secretSet(app: () => ReturnType<typeof createApp>) {
    const lines: string[] = [];
    const io = { out: (t: string) => lines.push(t), err: (t: string) => lines.push(t), readStdin: async () => "a-vault-test-secret-value", isTTY: false };
    const code = await runCli(["secret", "set", "--tenant", tenantId, "--expires", new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10), "--from-stdin"], io, app);
    return { code, text: lines.join("\n") };
  }

  it("unreachable (network): KEY_VAULT_UNREACHABLE, exit 1; untrusted TLS: KEY_VAULT_UNTRUSTED, exit 2", async () => {
    const stack = stackOf();
    await addTenant(stack.app, { tenantId, clientId: "0b5d2c1e-3333-4222-8333-944444444444", displayName: "Vault School" });
    const port = await closedPort();
    const down = await secretSet(() => createApp({ settings: loadSettings({ ...stack.env, KEY_VAULT_URL: `https://127.0.0.1:${port}/` }), ca: stack.sim.ca }));
    expect(down.text).toMatch(/^error KEY_VAULT_UNREACHABLE/);
    expect(down.code).toBe(1);
    const untrusted = await secretSet(() => {
      const app = createApp({ settings: loadSettings(stack.env), ca: stack.sim.ca });
      // The vault alone is not trusted: its client trusts no extra CA.
      return { ...app, secrets: new SecretStore(new SecretClient(stack.sim.keyVaultUrl, createPlatformCredential(app.settings, stack.sim.ca), { retryOptions: { maxRetries: 0 }, disableChallengeResourceVerification: true })) };
    });
    expect(untrusted.text).toMatch(/^error KEY_VAULT_UNTRUSTED/);
    expect(untrusted.code).toBe(2);
    expect(down.text + untrusted.text).not.toContain("a-vault-test-secret-value");
  });
});

describe("Key Vault challenge verification", () => {
  it("is off with KEY_VAULT_LOCAL_STACK=true (the local stack): the simulator's vault gets its token and answers", async () => {
    const stack = stackOf();
    expect(stack.env.KEY_VAULT_LOCAL_STACK).toBe("true");
    const app = createApp({ settings: loadSettings(stack.env), ca: stack.sim.ca });
    expect((await errorOf(app.secrets.get(TENANT))).code).toBe("SECRET_MISSING");
  });

  it("is on without it: a vault whose challenge names another domain than its host gets no token", async () => {
    const stack = stackOf();
    const since = new Date().toISOString();
    const env = { ...stack.env, KEY_VAULT_LOCAL_STACK: "" };
    const app = createApp({ settings: loadSettings(env), ca: stack.sim.ca });
    const e = await errorOf(app.secrets.get(TENANT));
    expect(e.code).toBe("CONFIG_INVALID");
    const later = stack.sim.control.requestLog().filter((r) => r.ts >= since);
    expect(later.some((r) => r.path.startsWith("/secrets"))).toBe(true); // the challenge was asked for…
    expect(later.filter((r) => r.authorization)).toEqual([]); // …and no token went anywhere
    expect(later.filter((r) => /\/token/.test(r.path))).toEqual([]);
  });

  it("is on for a URL that merely contains a vault domain: only the host counts", async () => {
    const stack = stackOf();
    const since = new Date().toISOString();
    const sneaky = stack.sim.keyVaultUrl.replace("https://", "https://x.vault.azure.net@");
    const app = createApp({ settings: loadSettings({ ...stack.env, KEY_VAULT_URL: sneaky, KEY_VAULT_LOCAL_STACK: "" }), ca: stack.sim.ca });
    expect((await errorOf(app.secrets.get(TENANT))).code).toBe("CONFIG_INVALID");
    expect(stack.sim.control.requestLog().filter((r) => r.ts >= since && r.authorization)).toEqual([]);
  });
});

describe("KEY_VAULT_LOCAL_STACK", () => {
  const base = { AzureWebJobsStorage: "UseDevelopmentStorage=true" };
  const code = (env: Record<string, string>) => {
    try {
      loadSettings({ ...base, ...env });
      return "ok";
    } catch (e) {
      return (e as EntraSyncError).code;
    }
  };

  it("is false by default and true only for a vault on 127.0.0.1, localhost or [::1], compared by host name", () => {
    expect(loadSettings({ ...base, KEY_VAULT_URL: "https://v.vault.azure.net/" }).keyVaultLocalStack).toBe(false);
    expect(code({ KEY_VAULT_URL: "https://127.0.0.1:8443/", KEY_VAULT_LOCAL_STACK: "true" })).toBe("ok");
    expect(code({ KEY_VAULT_URL: "https://localhost:8443/", KEY_VAULT_LOCAL_STACK: "true" })).toBe("ok");
    expect(code({ KEY_VAULT_URL: "https://[::1]:8443/", KEY_VAULT_LOCAL_STACK: "true" })).toBe("ok");
    expect(code({ KEY_VAULT_URL: "https://v.vault.azure.net/", KEY_VAULT_LOCAL_STACK: "true" })).toBe("CONFIG_INVALID");
    expect(code({ KEY_VAULT_URL: "https://127.0.0.1.example.net/", KEY_VAULT_LOCAL_STACK: "true" })).toBe("CONFIG_INVALID");
    expect(code({ KEY_VAULT_URL: "https://127.0.0.1@evil.example/", KEY_VAULT_LOCAL_STACK: "true" })).toBe("CONFIG_INVALID");
    expect(code({ KEY_VAULT_URL: "https://127.0.0.1:8443/", KEY_VAULT_LOCAL_STACK: "yes" })).toBe("CONFIG_INVALID");
  });
});
