/** In-memory directory: tenants, domains, app registrations with secrets, users with per-property change versions. */
import { GRAPH_USER_PROPERTIES, type SimUser, type SimUserInput } from "./types.js";
import { entraSecretValue, guid } from "./util.js";

export type UserProp = (typeof GRAPH_USER_PROPERTIES)[number];
export const USER_PROPS: readonly UserProp[] = GRAPH_USER_PROPERTIES;
const USER_PROP_SET = new Set<string>(GRAPH_USER_PROPERTIES);

export interface SimDomain {
  id: string;
  authenticationType: "Managed" | "Federated";
  isInitial: boolean;
  isDefault: boolean;
  isVerified: boolean;
}

export interface SecretRecord {
  keyId: string;
  value: string;
  hint: string;
  displayName: string | null;
  startDateTime: string;
  endDateTime: string;
}

export interface AppRecord {
  clientId: string;
  objectId: string;
  displayName: string;
  roles: string[];
  enabled: boolean;
  secrets: SecretRecord[];
}

export interface UserRecord {
  /** index in TenantRecord.ordered: the stable delta/list order */
  seq: number;
  user: SimUser;
  privileged: boolean;
  softDeleted: boolean;
  hardDeleted: boolean;
  /** highest change version of anything about this user */
  version: number;
  createdVersion: number;
  /** version of the last soft or hard delete */
  deletedVersion: number;
  restoredVersion: number;
  /** per-property last-changed version; absent => createdVersion */
  pv: Partial<Record<UserProp, number>>;
}

export interface TenantRecord {
  id: string;
  displayName: string;
  initialDomain: string;
  domains: Map<string, SimDomain>; // key: lower-case name
  apps: Map<string, AppRecord>;
  users: Map<string, UserRecord>; // by id, incl. soft- and hard-deleted (tombstones)
  ordered: UserRecord[];
  upnIndex: Map<string, string>; // lower-case UPN -> id (non-hard-deleted)
  immutableIndex: Map<string, string>; // exact value -> id (non-hard-deleted)
  version: number;
  activeCount: number;
  deltaEpoch: number;
  expiredHow: "syncStateNotFound" | "gone";
  pendingImmutable: Map<string, string>;
}

export interface TenantInfo {
  id: string;
  displayName: string;
  initialDomain: string;
  domains: SimDomain[];
}

export type SimUserView = SimUser & {
  privileged: boolean;
  softDeleted: boolean;
  hardDeleted: boolean;
  /** change version of the user's last change */
  version: number;
};

function slug(s: string): string {
  const out = s.toLowerCase().replace(/[^a-z0-9]+/g, "").slice(0, 27);
  return out || "tenant";
}

export function upnDomain(upn: string): string {
  const at = upn.lastIndexOf("@");
  return at < 0 ? "" : upn.slice(at + 1).toLowerCase();
}

function cloneUser(u: SimUser): SimUser {
  return {
    ...u,
    otherMails: [...u.otherMails],
    onPremisesExtensionAttributes: { ...u.onPremisesExtensionAttributes },
  };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Store {
  /** Told of every change Graph would notify about (change notifications: ./subscriptions.ts). */
  onUserChange: ((tenantId: string, userId: string, changeType: "updated" | "deleted") => void) | undefined;

  tenants = new Map<string, TenantRecord>();
  /** lower-case domain name -> tenant id (for token requests addressed by domain) */
  domainOwner = new Map<string, string>();

  constructor(private readonly now: () => number) {}

  tenant(id: string): TenantRecord {
    const t = this.tenants.get(id.toLowerCase());
    if (!t) throw new Error(`unknown tenant ${id}`);
    return t;
  }

  /** By GUID or by one of its domain names (as the token endpoint accepts both). */
  findTenant(idOrDomain: string): TenantRecord | undefined {
    const key = idOrDomain.toLowerCase();
    const direct = this.tenants.get(key);
    if (direct) return direct;
    const owner = this.domainOwner.get(key);
    return owner ? this.tenants.get(owner) : undefined;
  }

  tenantInfo(t: TenantRecord): TenantInfo {
    return { id: t.id, displayName: t.displayName, initialDomain: t.initialDomain, domains: [...t.domains.values()].map((d) => ({ ...d })) };
  }

  createTenant(input: { id?: string; displayName: string; initialDomain?: string; federatedDomains?: string[]; managedDomains?: string[] }): TenantInfo {
    const id = (input.id ?? guid()).toLowerCase();
    if (this.tenants.has(id)) throw new Error(`tenant ${id} exists`);
    let initialDomain = (input.initialDomain ?? `${slug(input.displayName)}.onmicrosoft.com`).toLowerCase();
    if (!input.initialDomain) {
      let n = 2;
      const base = initialDomain.replace(/\.onmicrosoft\.com$/, "");
      while (this.domainOwner.has(initialDomain)) initialDomain = `${base}${n++}.onmicrosoft.com`;
    }
    const t: TenantRecord = {
      id,
      displayName: input.displayName,
      initialDomain,
      domains: new Map(),
      apps: new Map(),
      users: new Map(),
      ordered: [],
      upnIndex: new Map(),
      immutableIndex: new Map(),
      version: 1,
      activeCount: 0,
      deltaEpoch: 0,
      expiredHow: "gone",
      pendingImmutable: new Map(),
    };
    const add = (name: string, type: "Managed" | "Federated", isInitial: boolean) => {
      const key = name.toLowerCase();
      // Real Entra verifies a domain in one tenant only; tests often reuse names, so the first owner wins
      // for token requests addressed by domain name, and no error is raised.
      t.domains.set(key, { id: key, authenticationType: type, isInitial, isDefault: isInitial, isVerified: true });
      if (!this.domainOwner.has(key)) this.domainOwner.set(key, id);
    };
    add(initialDomain, "Managed", true);
    for (const d of input.managedDomains ?? []) add(d, "Managed", false);
    for (const d of input.federatedDomains ?? []) add(d, "Federated", false);
    this.tenants.set(id, t);
    return this.tenantInfo(t);
  }

  app(tenantId: string, clientId: string): AppRecord {
    const a = this.tenant(tenantId).apps.get(clientId.toLowerCase());
    if (!a) throw new Error(`unknown app ${clientId} in tenant ${tenantId}`);
    return a;
  }

  createApp(tenantId: string, input: { clientId?: string; displayName?: string; roles: string[]; enabled?: boolean }): { clientId: string; objectId: string } {
    const t = this.tenant(tenantId);
    const clientId = (input.clientId ?? guid()).toLowerCase();
    if (t.apps.has(clientId)) throw new Error(`app ${clientId} exists in tenant ${tenantId}`);
    const a: AppRecord = {
      clientId,
      objectId: guid(),
      displayName: input.displayName ?? "entra-sync",
      roles: [...(input.roles ?? [])],
      enabled: input.enabled ?? true,
      secrets: [],
    };
    t.apps.set(clientId, a);
    return { clientId, objectId: a.objectId };
  }

  addSecret(tenantId: string, clientId: string, input: { value?: string; endDateTime: Date | string; displayName?: string }): { value: string; keyId: string; hint: string; endDateTime: string } {
    const a = this.app(tenantId, clientId);
    const end = new Date(input.endDateTime);
    if (Number.isNaN(end.getTime())) throw new Error("addSecret: invalid endDateTime");
    const value = input.value ?? entraSecretValue();
    const s: SecretRecord = {
      keyId: guid(),
      value,
      hint: value.slice(0, 3),
      displayName: input.displayName ?? null,
      startDateTime: new Date(this.now()).toISOString(),
      endDateTime: end.toISOString(),
    };
    a.secrets.push(s);
    return { value, keyId: s.keyId, hint: s.hint, endDateTime: s.endDateTime };
  }

  removeSecret(tenantId: string, clientId: string, keyId: string): void {
    const a = this.app(tenantId, clientId);
    const before = a.secrets.length;
    a.secrets = a.secrets.filter((s) => s.keyId !== keyId);
    if (a.secrets.length === before) throw new Error(`no secret ${keyId}`);
  }

  // ---------------------------------------------------------------- users

  private normalizeInput(input: SimUserInput): SimUser {
    return {
      id: (input.id ?? guid()).toLowerCase(),
      userPrincipalName: input.userPrincipalName,
      displayName: input.displayName ?? null,
      givenName: input.givenName ?? null,
      surname: input.surname ?? null,
      mail: input.mail ?? null,
      otherMails: input.otherMails ? [...input.otherMails] : [],
      city: input.city ?? null,
      streetAddress: input.streetAddress ?? null,
      postalCode: input.postalCode ?? null,
      mobilePhone: input.mobilePhone ?? null,
      birthday: input.birthday ?? null,
      onPremisesImmutableId: input.onPremisesImmutableId ?? null,
      onPremisesSyncEnabled: input.onPremisesSyncEnabled ?? null,
      onPremisesExtensionAttributes: input.onPremisesExtensionAttributes ? { ...input.onPremisesExtensionAttributes } : {},
      accountEnabled: input.accountEnabled ?? true,
    };
  }

  addUsers(tenantId: string, inputs: SimUserInput[]): SimUser[] {
    const t = this.tenant(tenantId);
    // validate the whole batch first so a failure leaves the tenant untouched
    const users = inputs.map((i) => this.normalizeInput(i));
    const seenUpn = new Set<string>();
    const seenImm = new Set<string>();
    const seenId = new Set<string>();
    for (const u of users) {
      if (typeof u.userPrincipalName !== "string" || !u.userPrincipalName.includes("@")) throw new Error(`addUsers: invalid userPrincipalName ${String(u.userPrincipalName)}`);
      const d = upnDomain(u.userPrincipalName);
      if (!t.domains.has(d)) throw new Error(`addUsers: domain '${d}' of ${u.userPrincipalName} is not a domain of tenant ${t.id} (createTenant managedDomains/federatedDomains)`);
      const upn = u.userPrincipalName.toLowerCase();
      if (t.upnIndex.has(upn) || seenUpn.has(upn)) throw new Error(`addUsers: duplicate userPrincipalName ${u.userPrincipalName}`);
      seenUpn.add(upn);
      if (t.users.has(u.id) || seenId.has(u.id)) throw new Error(`addUsers: duplicate id ${u.id}`);
      seenId.add(u.id);
      if (u.onPremisesImmutableId !== null) {
        if (t.immutableIndex.has(u.onPremisesImmutableId) || seenImm.has(u.onPremisesImmutableId)) throw new Error(`addUsers: duplicate onPremisesImmutableId ${u.onPremisesImmutableId}`);
        seenImm.add(u.onPremisesImmutableId);
      }
    }
    const v = ++t.version;
    inputs.forEach((input, i) => {
      const u = users[i]!;
      const r: UserRecord = {
        seq: t.ordered.length,
        user: u,
        privileged: input.privileged ?? false,
        softDeleted: false,
        hardDeleted: false,
        version: v,
        createdVersion: v,
        deletedVersion: 0,
        restoredVersion: 0,
        pv: {},
      };
      t.ordered.push(r);
      t.users.set(u.id, r);
      t.upnIndex.set(u.userPrincipalName.toLowerCase(), u.id);
      if (u.onPremisesImmutableId !== null) t.immutableIndex.set(u.onPremisesImmutableId, u.id);
    });
    t.activeCount += users.length;
    for (const u of users) this.onUserChange?.(t.id, u.id, "updated");
    return users.map(cloneUser);
  }

  record(tenantId: string, id: string): UserRecord {
    const r = this.tenant(tenantId).users.get(id.toLowerCase());
    if (!r || r.hardDeleted) throw new Error(`unknown user ${id} in tenant ${tenantId}`);
    return r;
  }

  /** Finds a user visible to Graph (not deleted) by id or UPN. */
  findActive(t: TenantRecord, idOrUpn: string): UserRecord | undefined {
    const key = idOrUpn.toLowerCase();
    let r = t.users.get(key);
    if (!r) {
      const id = t.upnIndex.get(key);
      r = id ? t.users.get(id) : undefined;
    }
    return r && !r.softDeleted && !r.hardDeleted ? r : undefined;
  }

  /**
   * Applies a patch as one change (one new version) to the properties whose value differs.
   * Keeps UPN/ImmutableId indexes; throws on uniqueness violations (callers validate first for Graph errors).
   */
  applyChange(t: TenantRecord, r: UserRecord, patch: Partial<SimUser>): UserProp[] {
    const changed: UserProp[] = [];
    for (const [k, v] of Object.entries(patch)) {
      if (k === "id" || !USER_PROP_SET.has(k) || v === undefined) continue;
      const prop = k as UserProp;
      let next: unknown = v;
      if (prop === "onPremisesExtensionAttributes") {
        next = { ...r.user.onPremisesExtensionAttributes, ...(v as object) };
      }
      if (!sameValue(r.user[prop], next)) changed.push(prop);
    }
    if (changed.length === 0) return changed;
    if (changed.includes("userPrincipalName")) {
      const upn = String(patch.userPrincipalName);
      const other = t.upnIndex.get(upn.toLowerCase());
      if (other && other !== r.user.id) throw new Error(`userPrincipalName ${upn} already used`);
      if (!t.domains.has(upnDomain(upn))) throw new Error(`domain of ${upn} is not a domain of tenant ${t.id}`);
    }
    if (changed.includes("onPremisesImmutableId") && patch.onPremisesImmutableId != null) {
      const other = t.immutableIndex.get(patch.onPremisesImmutableId);
      if (other && other !== r.user.id) throw new Error(`onPremisesImmutableId ${patch.onPremisesImmutableId} already used`);
    }
    const v = ++t.version;
    for (const prop of changed) {
      const raw = patch[prop];
      if (prop === "userPrincipalName") {
        t.upnIndex.delete(r.user.userPrincipalName.toLowerCase());
        t.upnIndex.set(String(raw).toLowerCase(), r.user.id);
      }
      if (prop === "onPremisesImmutableId") {
        if (r.user.onPremisesImmutableId !== null) t.immutableIndex.delete(r.user.onPremisesImmutableId);
        if (raw != null) t.immutableIndex.set(String(raw), r.user.id);
      }
      const value =
        prop === "onPremisesExtensionAttributes"
          ? { ...r.user.onPremisesExtensionAttributes, ...(raw as object) }
          : prop === "otherMails"
            ? [...(raw as string[])]
            : raw;
      (r.user as unknown as Record<string, unknown>)[prop] = value;
      r.pv[prop] = v;
    }
    r.version = v;
    this.onUserChange?.(t.id, r.user.id, "updated");
    return changed;
  }

  updateUser(tenantId: string, id: string, patch: Partial<SimUser>): void {
    const t = this.tenant(tenantId);
    this.applyChange(t, this.record(tenantId, id), patch);
  }

  softDeleteUser(tenantId: string, id: string): void {
    const t = this.tenant(tenantId);
    const r = this.record(tenantId, id);
    if (r.softDeleted) return;
    r.softDeleted = true;
    r.version = r.deletedVersion = ++t.version;
    t.activeCount--;
    this.onUserChange?.(t.id, r.user.id, "updated");
  }

  restoreUser(tenantId: string, id: string): void {
    const t = this.tenant(tenantId);
    const r = this.record(tenantId, id);
    if (!r.softDeleted) throw new Error(`user ${id} is not soft-deleted`);
    r.softDeleted = false;
    r.version = r.restoredVersion = ++t.version;
    t.activeCount++;
    this.onUserChange?.(t.id, r.user.id, "updated");
  }

  hardDeleteUser(tenantId: string, id: string): void {
    const t = this.tenant(tenantId);
    const r = this.record(tenantId, id);
    if (!r.softDeleted) t.activeCount--;
    r.hardDeleted = true;
    r.softDeleted = false;
    r.version = r.deletedVersion = ++t.version;
    t.upnIndex.delete(r.user.userPrincipalName.toLowerCase());
    if (r.user.onPremisesImmutableId !== null) t.immutableIndex.delete(r.user.onPremisesImmutableId);
    t.pendingImmutable.delete(r.user.id);
    this.onUserChange?.(t.id, r.user.id, "deleted");
  }

  view(r: UserRecord): SimUserView {
    return { ...cloneUser(r.user), privileged: r.privileged, softDeleted: r.softDeleted, hardDeleted: r.hardDeleted, version: r.version };
  }

  getUser(tenantId: string, id: string): SimUserView | undefined {
    const r = this.tenant(tenantId).users.get(id.toLowerCase());
    return r && !r.hardDeleted ? this.view(r) : undefined;
  }

  listUsers(tenantId: string): SimUser[] {
    const out: SimUser[] = [];
    for (const r of this.tenant(tenantId).ordered) if (!r.softDeleted && !r.hardDeleted) out.push(cloneUser(r.user));
    return out;
  }

  setPrivileged(tenantId: string, id: string, privileged: boolean): void {
    this.record(tenantId, id).privileged = privileged;
  }
}
