import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { onboardSimTenant, type SimTenantOptions } from "../../dev/demo/onboard.js";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../dev/stack.js";
import { startAzurite, type AzuriteInstance } from "../../dev/azurite.js";
import type { SimUserInput } from "../../dev/simulator/types.js";
import type { PlatformUser } from "../../src/directory/types.js";

/**
 * Starts one local stack (Azurite + simulator) for the test file and stops it afterwards. Returns a getter: the
 * stack exists only once `beforeAll` has run.
 */
export function useLocalStack(o: LocalStackOptions = {}): () => LocalStack {
  let stack: LocalStack | undefined;
  beforeAll(async () => {
    stack = await startLocalStack({ simulator: { throttle: false, ...o.simulator }, ...o, workDir: o.workDir ?? ".local/test" });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });
  return () => {
    if (!stack) throw new Error("the local stack is not started (use it inside a test)");
    return stack;
  };
}

/** Starts Azurite alone (the local stack's, with its preloads) for the test file; a getter, as `useLocalStack`. */
export function useAzurite(): () => AzuriteInstance {
  let azurite: AzuriteInstance | undefined;
  beforeAll(async () => {
    azurite = await startAzurite();
  }, 60_000);
  afterAll(async () => {
    await azurite?.stop();
  });
  return () => {
    if (!azurite) throw new Error("Azurite is not started (use it inside a test)");
    return azurite;
  };
}

/** N simple Entra users with matching platform users (externalId linked), for tests. */
export function simpleDirectory(n: number, tenantId = "placeholder"): { users: Array<SimUserInput & { id: string }>; platformUsers: PlatformUser[] } {
  const users: Array<SimUserInput & { id: string }> = [];
  const platformUsers: PlatformUser[] = [];
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    users.push({ id, userPrincipalName: `user${i}@school.onmicrosoft.com`, givenName: `Given${i}`, surname: `Sur${i}`, mail: `user${i}@school.example`, city: "Lund" });
    platformUsers.push({ id: `p-${i}`, tenantId, externalId: id, userName: `user${i}@school.onmicrosoft.com`, firstName: `Given${i}`, lastName: `Sur${i}`, email: `user${i}@school.example`, city: "Lund" });
  }
  return { users, platformUsers };
}

export async function onboard(stack: LocalStack, o: Partial<SimTenantOptions> & { users: SimTenantOptions["users"] }) {
  return onboardSimTenant(stack, { displayName: o.displayName ?? "Test School", managedDomain: "school.onmicrosoft.com", ...o });
}
