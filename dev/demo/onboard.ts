import { randomUUID } from "node:crypto";
import type { PlatformUser } from "../../src/directory/types.js";
import { generateDemoTenant, type DemoTenant } from "./generate.js";
import type { Tenant } from "../../src/tenants/model.js";
import { addTenant, setTenantSecret } from "../../src/tenants/onboarding.js";
import { federatedRegistration } from "../../src/secrets/federated.js";
import type { LocalStack } from "../stack.js";
import type { SimUserInput } from "../simulator/types.js";

export interface SimTenantOptions {
  tenantId?: string;
  displayName: string;
  users: Array<SimUserInput & { id?: string }>;
  platformUsers?: PlatformUser[];
  managedDomain?: string;
  federatedDomains?: string[];
  /** App roles granted in the customer tenant (default: the README's set for every capability: User.ReadWrite.All, Domain.Read.All, Application.Read.All). */
  roles?: string[];
  /** Days until the client secret expires (default 365). */
  secretDays?: number;
  /** Extra registration fields (mapping, linking, immutableId …). */
  registration?: Record<string, unknown>;
}

/** The customer tenant itself in the simulator: its id, name and domains. */
function createSimTenant(sim: LocalStack["sim"], o: Pick<SimTenantOptions, "tenantId" | "displayName" | "managedDomain" | "federatedDomains">) {
  return sim.control.createTenant({
    ...(o.tenantId ? { id: o.tenantId } : {}),
    displayName: o.displayName,
    ...(o.managedDomain ? { initialDomain: o.managedDomain } : {}),
    ...(o.federatedDomains ? { federatedDomains: o.federatedDomains } : {}),
  });
}

/**
 * Creates a customer tenant in the simulator (app, secret, users), then registers it here through the same code
 * as the CLI (`tenant add`, `secret set`) and seeds the platform directory (`users import`).
 */
export async function onboardSimTenant(stack: LocalStack, o: SimTenantOptions): Promise<{ tenant: Tenant; clientSecret: string }> {
  const { sim, app } = stack;
  const created = await createSimTenant(sim, o);
  const simApp = await sim.control.createApp(created.id, { displayName: "entra-sync", roles: o.roles ?? ["User.ReadWrite.All", "Domain.Read.All", "Application.Read.All"] });
  const now = app.clock();
  const expires = new Date(now.getTime() + (o.secretDays ?? 365) * 86_400_000);
  const secret = await sim.control.addSecret(created.id, simApp.clientId, { endDateTime: expires });
  await sim.control.addUsers(created.id, o.users);
  const tenant = await addTenant(app, { tenantId: created.id, clientId: simApp.clientId, displayName: o.displayName, ...(o.registration ?? {}) });
  await setTenantSecret(app, tenant.tenantId, secret.value, expires);
  if (o.platformUsers?.length) await app.directory.importUsers(tenant.tenantId, o.platformUsers.map((u) => ({ ...u, tenantId: tenant.tenantId })));
  return { tenant, clientSecret: secret.value };
}

/** A generated demo school (generate.ts) onboarded as above, linking by UPN ↔ userName enabled. */
export async function onboardDemoSchool(
  stack: LocalStack,
  o: { size: number; seed: number; tenantId?: string; secretDays?: number; registration?: Record<string, unknown> },
): Promise<{ tenant: Tenant; demo: DemoTenant; clientSecret: string }> {
  const tenantId = o.tenantId ?? randomUUID();
  const demo = generateDemoTenant({ seed: o.seed, size: o.size, tenantId });
  const { tenant, clientSecret } = await onboardSimTenant(stack, {
    tenantId,
    displayName: demo.schoolName,
    users: demo.entraUsers,
    platformUsers: demo.platformUsers,
    managedDomain: demo.managedDomain,
    federatedDomains: [demo.federatedDomain],
    ...(o.secretDays !== undefined ? { secretDays: o.secretDays } : {}),
    registration: { linking: { entra: "userPrincipalName", platform: "userName" }, adminEmails: [`it@${demo.federatedDomain}`], ...o.registration },
  });
  return { tenant, demo, clientSecret };
}

/**
 * A federated customer tenant: created in the simulator with the users, admin consent granted there to the platform's
 * multi-tenant app (its service principal with `roles`), and registered with `auth: "federated"` through the same
 * code as `tenant add --auth federated`: no secret is made or stored.
 */
export async function onboardFederatedSimTenant(stack: LocalStack, o: Omit<SimTenantOptions, "secretDays"> & { consent?: boolean }): Promise<{ tenant: Tenant }> {
  const { sim, app } = stack;
  const created = await createSimTenant(sim, o);
  if (o.consent ?? true) await sim.control.grantConsent(created.id, sim.federation.appClientId, o.roles ?? ["User.ReadWrite.All", "Domain.Read.All"]);
  await sim.control.addUsers(created.id, o.users);
  const tenant = await addTenant(app, federatedRegistration(app.settings, { tenantId: created.id, auth: "federated", displayName: o.displayName, ...(o.registration ?? {}) }));
  if (o.platformUsers?.length) await app.directory.importUsers(tenant.tenantId, o.platformUsers.map((u) => ({ ...u, tenantId: tenant.tenantId })));
  return { tenant };
}
