import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createApp, type App } from "../src/composition.js";
import { DEFAULTS, loadSettings, type Settings } from "../src/config/settings.js";
import { silentLogger, type Logger } from "../src/log.js";
import { startAzurite, type AzuriteInstance } from "./azurite.js";
import { startSimulator, type Simulator, type SimulatorOptions } from "./simulator/index.js";

/** Azurite + the Entra/Graph/Key Vault simulator, and the app wired to them through the real SDKs. */
export interface LocalStack {
  azurite: AzuriteInstance;
  sim: Simulator;
  /** The app settings of this stack (as environment variables). */
  env: Record<string, string>;
  settings: Settings;
  app: App;
  /** Path of the simulator's CA certificate (for NODE_EXTRA_CA_CERTS in other processes). */
  caFile: string;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  simulator?: SimulatorOptions;
  log?: Logger;
  clock?: () => Date;
  /** Extra settings (e.g. MAIL_OUTBOX_DIR). */
  env?: Record<string, string>;
  /** false: stock Azurite, whose keyed reads and writes scan the whole partition (see dev/azurite-keyed-lookup.cjs). */
  azuriteKeyedLookups?: boolean;
  /** Folder for the CA file and the outbox (default .local/). */
  workDir?: string;
}

/** Starts the whole local stack on free ports of 127.0.0.1 and builds the app on it. Stop it with `stop()`. */
export async function startLocalStack(o: LocalStackOptions = {}): Promise<LocalStack> {
  const [azurite, sim] = await Promise.all([startAzurite({ keyedLookups: o.azuriteKeyedLookups ?? true }), startSimulator(o.simulator)]);
  try {
    const workDir = o.workDir ?? path.resolve(".local");
    mkdirSync(workDir, { recursive: true });
    const caFile = path.join(workDir, `simulator-ca-${process.pid}.pem`);
    writeFileSync(caFile, sim.ca);
    const env: Record<string, string> = {
      AzureWebJobsStorage: azurite.connectionString,
      // The app's data account: in Azure an account of its own; locally the same Azurite.
      APP_STORAGE: azurite.connectionString,
      KEY_VAULT_URL: sim.keyVaultUrl,
      KEY_VAULT_LOCAL_STACK: "true",
      PLATFORM_CREDENTIAL: "client-secret",
      PLATFORM_TENANT_ID: sim.vaultIdentity.tenantId,
      PLATFORM_CLIENT_ID: sim.vaultIdentity.clientId,
      PLATFORM_CLIENT_SECRET: sim.vaultIdentity.clientSecret,
      ENTRA_AUTHORITY_HOST: sim.authorityHost,
      GRAPH_BASE_URL: sim.graphBaseUrl,
      // Federated tenants: the simulator's multi-tenant app and the user-assigned identity its credential trusts.
      FEDERATED_APP_CLIENT_ID: sim.federation.appClientId,
      MANAGED_IDENTITY_CLIENT_ID: sim.federation.managedIdentity.clientId,
      MAIL_TRANSPORT: "outbox",
      MAIL_OUTBOX_DIR: path.join(workDir, "outbox"),
      MAIL_FROM: "entra-sync@localhost",
      OPERATOR_EMAIL: "operators@platform.example",
      // The app paces its writes to the simulator's throttle model, whatever window scale it was given.
      GRAPH_WRITE_LIMIT: String(sim.control.writeLimit().writes),
      GRAPH_WRITE_WINDOW_SECONDS: String(sim.control.writeLimit().windowSeconds),
      // The status page's local sign-in: a key made for this stack (Azure uses App Service Authentication).
      STATUS_PAGE_AUTH: "local",
      STATUS_PAGE_KEY: randomBytes(32).toString("base64url"),
      ...o.env,
    };
    // ManagedIdentityCredential reads these from the process environment, as App Service and Functions set them; MSAL
    // picks its managed identity source at the first token request of a process and keeps it (so one stack's
    // simulator per process serves federated tenants).
    Object.assign(process.env, managedIdentityEnv(sim));
    const settings = loadSettings(env);
    const app = createApp({ settings, ca: sim.ca, log: o.log ?? silentLogger, ...(o.clock ? { clock: o.clock } : {}) });
    await app.ensureStorage();
    return {
      azurite,
      sim,
      env,
      settings,
      app,
      caFile,
      async stop() {
        await Promise.allSettled([azurite.stop(), sim.stop()]);
      },
    };
  } catch (e) {
    await Promise.allSettled([azurite.stop(), sim.stop()]);
    throw e;
  }
}

/** IDENTITY_ENDPOINT and IDENTITY_HEADER: where the simulator plays the function app's managed identity endpoint. */
export function managedIdentityEnv(sim: Pick<Simulator, "federation">): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string } {
  return { IDENTITY_ENDPOINT: sim.federation.identityEndpoint, IDENTITY_HEADER: sim.federation.identityHeader };
}

/**
 * The `Values` of local.settings.json for `func start` on this stack: the stack's settings, the schedules the timers
 * name (`%SYNC_SCHEDULE%`, `%SECRET_CHECK_SCHEDULE%`: the host resolves them from app settings and has no default),
 * and the simulator's CA for TLS (`NODE_EXTRA_CA_CERTS`, read when the worker process starts).
 */
export function functionsHostSettings(stack: Pick<LocalStack, "env" | "caFile" | "sim">): Record<string, string> {
  return {
    FUNCTIONS_WORKER_RUNTIME: "node",
    ...managedIdentityEnv(stack.sim),
    SYNC_SCHEDULE: DEFAULTS.SYNC_SCHEDULE,
    SECRET_CHECK_SCHEDULE: DEFAULTS.SECRET_CHECK_SCHEDULE,
    ...stack.env,
    NODE_EXTRA_CA_CERTS: stack.caFile,
  };
}
