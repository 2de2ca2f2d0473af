import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { EntraSyncError } from "../../src/errors.js";
import { useLocalStack } from "../support/stack.js";

const stackOf = useLocalStack();

describe("bulk registration (TenantRegistry.addMany)", () => {
  it("registers many tenants in transactions with progress, validates all before writing, and names tenants already registered", async () => {
    const { app } = stackOf();
    const input = (n: number) => Array.from({ length: n }, (_, i) => ({ tenantId: randomUUID(), clientId: randomUUID(), displayName: `School ${i}` }));
    const first = input(230);
    const progress: number[] = [];
    const added = await app.tenants.addMany(first, { onProgress: (n) => progress.push(n) });
    expect(added).toHaveLength(230);
    expect(added[0]?.immutableId.mode).toBe("preview"); // the defaults of a single `tenant add`
    expect(Math.max(...progress)).toBe(230);
    expect((await app.tenants.get(first[229]!.tenantId))?.displayName).toBe("School 229");

    // One bad row: nothing is written, and the error says which row and what is wrong.
    const bad = [...input(3), { tenantId: "not-a-guid", clientId: randomUUID(), displayName: "X" }];
    const err = await app.tenants.addMany(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EntraSyncError);
    expect((err as EntraSyncError).message).toMatch(/^Tenant 4: .*Nothing was registered\./);
    expect(await app.tenants.get(bad[0]!.tenantId)).toBeUndefined();

    // One already registered: the others are registered, the error names it.
    const again = [first[5]!, ...input(4)];
    const dup = await app.tenants.addMany(again).catch((e: unknown) => e);
    expect((dup as EntraSyncError).message).toContain(first[5]!.tenantId);
    expect((dup as EntraSyncError).message).toMatch(/the other 4 were registered/);
    for (const t of again.slice(1)) expect(await app.tenants.get(t.tenantId)).toBeDefined();
  });
});
