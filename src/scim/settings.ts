import type { TableClient } from "@azure/data-tables";
import { EntraSyncError } from "../errors.js";
import { getOrUndefined, storageError } from "../state/tables-client.js";
import type { CustomExtension } from "./schemas.js";
import { DELETE_MODES, type CustomAttributeRule, type DeleteMode, type TenantScimConfig } from "./users.js";

/** Platform columns a custom extension attribute may land in. */
export const CUSTOM_COLUMNS = ["idpIdentifier", "eppn", "ssn", "birthDate", "homePhone"] as const;
export type CustomColumn = (typeof CUSTOM_COLUMNS)[number];

/** A tenant's SCIM settings: declared custom extension attributes, the prefix of the others, what to do with undeclared ones. */
export interface ScimTenantSettings extends TenantScimConfig {
  tenantId: string;
  /** `keep`: undeclared extension attributes are stored under the prefix; `refuse`: 400 naming them. */
  undeclared: "keep" | "refuse";
  /** What DELETE does: `mark` the platform user removed (default), or `erase` it. */
  onDelete: DeleteMode;
}

export const extensionUrn = (name: string) => `urn:ietf:params:scim:schemas:extension:${name}:2.0:User`;

/** The extensions a tenant's settings declare, for /Schemas and /ResourceTypes. */
export function extensionsOf(s: TenantScimConfig): CustomExtension[] {
  const byUrn = new Map<string, string[]>();
  for (const r of s.rules) byUrn.set(r.urn, [...(byUrn.get(r.urn) ?? []), r.attribute]);
  return [...byUrn].map(([urn, attributes]) => ({ urn, attributes }));
}

const defaults = (tenantId: string): ScimTenantSettings => ({ tenantId, prefix: "scim", rules: [], undeclared: "keep", onDelete: "mark" });
const CACHE_MS = 30_000;

/**
 * Each tenant's SCIM settings (table scimsettings, PartitionKey "tenant", RowKey tenant id). The endpoint reads them
 * through a 30-second cache, so a change reaches every instance within half a minute.
 */
export class ScimSettingsStore {
  private readonly cache = new Map<string, { at: number; value: ScimTenantSettings }>();
  constructor(
    private readonly table: TableClient,
    private readonly now: () => number = () => Date.now(),
  ) {}

  async get(tenantId: string): Promise<ScimTenantSettings> {
    const row = await getOrUndefined<{ settings?: string }>(this.table, "tenant", tenantId);
    if (!row?.settings) return defaults(tenantId);
    try {
      return { ...defaults(tenantId), ...(JSON.parse(row.settings) as Partial<ScimTenantSettings>), tenantId };
    } catch {
      return defaults(tenantId);
    }
  }

  async cached(tenantId: string): Promise<ScimTenantSettings> {
    const hit = this.cache.get(tenantId);
    if (hit && this.now() - hit.at < CACHE_MS) return hit.value;
    const value = await this.get(tenantId);
    this.cache.set(tenantId, { at: this.now(), value });
    return value;
  }

  async set(settings: ScimTenantSettings): Promise<ScimTenantSettings> {
    checkSettings(settings);
    try {
      await this.table.upsertEntity({ partitionKey: "tenant", rowKey: settings.tenantId, settings: JSON.stringify(settings) }, "Replace");
    } catch (e) {
      throw storageError(e, `store the SCIM settings of tenant ${settings.tenantId}`);
    }
    this.cache.delete(settings.tenantId);
    return settings;
  }
}

function checkSettings(s: ScimTenantSettings): void {
  if (!/^[A-Za-z][\w.-]{0,63}$/.test(s.prefix)) throw new EntraSyncError("INPUT_INVALID", `--prefix must be a name of letters, digits, _ . - (e.g. entraid_attributes); got "${s.prefix}".`, { field: "prefix" });
  for (const r of s.rules) checkRule(r);
  if (!(DELETE_MODES as readonly string[]).includes(s.onDelete)) throw new EntraSyncError("INPUT_INVALID", `--delete must be ${DELETE_MODES.join(" or ")}; got "${String(s.onDelete)}".`, { field: "delete" });
}

function checkRule(r: CustomAttributeRule): void {
  if (!/^urn:ietf:params:scim:schemas:extension:[A-Za-z][\w-]*:2\.0:User$/.test(r.urn))
    throw new EntraSyncError("INPUT_INVALID", `Extension "${r.urn}" must look like urn:ietf:params:scim:schemas:extension:<Name>:2.0:User (the form Entra's attribute list requires).`, { field: "extension" });
  if (!/^[A-Za-z][\w-]{0,63}$/.test(r.attribute) || ["__proto__", "constructor", "prototype"].includes(r.attribute.toLowerCase()))
    throw new EntraSyncError("INPUT_INVALID", `Attribute "${r.attribute}" must be a simple name (letters, digits, _ -).`, { field: "attribute" });
  if (r.column !== undefined && !(CUSTOM_COLUMNS as readonly string[]).includes(r.column))
    throw new EntraSyncError("INPUT_INVALID", `Column "${r.column}" is not a platform column SCIM may write; use one of ${CUSTOM_COLUMNS.join(", ")}, or none to keep the value under the prefix.`, { field: "attribute" });
}
