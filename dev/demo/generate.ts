/**
 * Demo tenant generator: a realistic Entra tenant (users as the simulator takes them) and the platform directory that
 * mirrors it, deterministic from a seed, of any size. Used by `npm start`, the simulator's seed data, tests and
 * benchmarks.
 *
 * Everything is drawn from one seeded PRNG in a fixed order, so the same options give deep-equal output on every run
 * and machine. Category counts (federated, on-premises, unmatched, …) are exact (`Math.round(share × base)`), not
 * sampled, so reports of a run against a demo tenant are predictable.
 */
import type { SimUser, SimUserInput } from "../simulator/types.js";
import type { PlatformUser } from "../../src/directory/types.js";
import {
  ENGLISH_GIVEN_NAMES,
  ENGLISH_STREETS,
  ENGLISH_SURNAMES,
  ENGLISH_TOWNS,
  PERSONAL_MAIL_DOMAINS,
  SCHOOL_NAMES,
  SWEDISH_GIVEN_NAMES,
  SWEDISH_STREETS,
  SWEDISH_SURNAMES,
  SWEDISH_TOWNS,
  type Town,
} from "./names.js";

export interface DemoTenantOptions {
  seed: number;
  size: number;
  tenantId: string;
  /** Default `<slug>.onmicrosoft.com`, the slug derived from `schoolName`. */
  managedDomain?: string;
  /** Default `<slug>.se`. */
  federatedDomain?: string;
  /** Default: picked from a list of Swedish/English school and municipality names by the seed. */
  schoolName?: string;
  /** Share of users whose UPN is in the federated domain. Default 0.3. */
  federatedShare?: number;
  /** Users with `onPremisesSyncEnabled: true` (and an ImmutableId). Default 0.03. */
  onPremisesShare?: number;
  /** Share of the cloud users that already have an ImmutableId. Default 0.1. */
  immutableIdShare?: number;
  /** Users holding a privileged role. Default 0.002, at least 1 when size >= 500. */
  privilegedShare?: number;
  /** Entra users with no platform user. Default 0.05. */
  unmatchedShare?: number;
  /** Platform users with no Entra user, as a share of `size`. Default 0.02. */
  platformOnlyShare?: number;
  /**
   * Share of the matched Entra users whose platform user has no externalId yet but a userName equal to the UPN (case
   * may differ), so linking by key finds it. Default 0.1.
   */
  unlinkedShare?: number;
  /**
   * Entra users (share of `size`) that have two platform users with their UPN as userName (case-insensitively) and no
   * externalId: linking by key is ambiguous. Default 0.002.
   */
  ambiguousShare?: number;
}

export type DemoEntraUser = SimUserInput & { id: string };

export interface DemoTenant {
  schoolName: string;
  managedDomain: string;
  federatedDomain: string;
  /** Ids are deterministic GUID-format strings. */
  entraUsers: DemoEntraUser[];
  /** `tenantId` set; ids `p-000001`…, deterministic; sorted by id. */
  platformUsers: PlatformUser[];
}

export interface DemoUserChange {
  id: string;
  patch: Partial<SimUser>;
}

// ---------------------------------------------------------------------------------------------------------------
// PRNG. A local mulberry32 rather than `pure-rand`: pure-rand is only a transitive dependency of fast-check (not in
// package.json), and its API and streams have changed between majors; demo data must not change when fast-check does.

class Rng {
  private s: number;
  constructor(seed: number) {
    // Fold any finite number (negative, fractional, > 2^32) into 32 bits, then scramble so that near seeds diverge.
    const n = Number.isFinite(seed) ? seed : 0;
    let h = (Math.trunc(n) ^ Math.trunc(n / 4294967296) ^ Math.round((n % 1) * 1e9)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    this.s = (h ^ (h >>> 16)) >>> 0;
  }
  /** A uniform uint32. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
  /** A random permutation of 0…n-1. */
  permutation(n: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i]!;
      a[i] = a[j]!;
      a[j] = tmp;
    }
    return a;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function randomGuidBytes(rng: Rng): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i += 4) {
    const v = rng.u32();
    b[i] = v & 0xff;
    b[i + 1] = (v >>> 8) & 0xff;
    b[i + 2] = (v >>> 16) & 0xff;
    b[i + 3] = v >>> 24;
  }
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  return b;
}

function guidString(b: Uint8Array): string {
  const h = (from: number, to: number): string => {
    let s = "";
    for (let i = from; i < to; i++) s += HEX[b[i]!];
    return s;
  };
  return [h(0, 4), h(4, 6), h(6, 8), h(8, 10), h(10, 16)].join("-");
}

/**
 * The ImmutableId Entra Connect writes: base64 of an on-premises objectGUID in Microsoft's byte order (the first three
 * fields little-endian). 16 bytes → 24 characters, alphabet `A–Z a–z 0–9 + / =`.
 */
function immutableIdFromGuidBytes(b: Uint8Array): string {
  const ms = Uint8Array.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
  return Buffer.from(ms).toString("base64");
}

/** "Åsa Öberg-Lind" → "asaoberg-lind": ASCII lower case, letters, digits and hyphens only. */
export function toAsciiLocal(s: string): string {
  return s
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/ß/g, "ss")
    .replace(/[æÆ]/g, "ae")
    .replace(/[øØ]/g, "o")
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "");
}

/** The domain label for a school name: ASCII letters and digits only (what an `onmicrosoft.com` name allows). */
export function slugOf(schoolName: string): string {
  const slug = toAsciiLocal(schoolName).replace(/-/g, "");
  return slug === "" ? "school" : slug.slice(0, 27);
}

function checkShare(name: string, v: number | undefined, dflt: number): number {
  const share = v ?? dflt;
  if (!Number.isFinite(share) || share < 0 || share > 1) throw new RangeError(`${name} must be in [0, 1], got ${v}`);
  return share;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000];

/** n random decimal digits (n <= 6). */
function digits(rng: Rng, n: number): string {
  return String(rng.int(POW10[n] ?? 10)).padStart(n, "0");
}

function mobile(rng: Rng): string {
  return `+46 7${rng.pick(["0", "2", "3", "6", "9"])} ${digits(rng, 3)} ${digits(rng, 2)} ${digits(rng, 2)}`;
}

interface Address {
  city: string;
  streetAddress: string;
  postalCode: string;
}

function address(rng: Rng, town: Town): Address {
  if (town.english) {
    const letters = "ABDEFGHJLNPQRSTUWXYZ";
    const inward = `${rng.int(10)}${letters[rng.int(letters.length)]}${letters[rng.int(letters.length)]}`;
    return { city: town.city, streetAddress: `${rng.range(1, 180)} ${rng.pick(ENGLISH_STREETS)}`, postalCode: `${rng.pick(town.postal)} ${inward}` };
  }
  const house = rng.range(1, 90);
  const suffix = rng.chance(0.12) ? ` ${rng.pick(["A", "B", "C"])}` : "";
  return {
    city: town.city,
    streetAddress: `${rng.pick(SWEDISH_STREETS)} ${house}${suffix}`,
    postalCode: `${rng.pick(town.postal)} ${digits(rng, 2)}`,
  };
}

function randomTown(rng: Rng, englishName: boolean): Town {
  return rng.chance(englishName ? 0.5 : 0.02) ? rng.pick(ENGLISH_TOWNS) : rng.pick(SWEDISH_TOWNS);
}

/** A personnummer-shaped "YYYYMMDD-NNNN" whose last digit deliberately fails the Luhn check (never a real person's). */
function fakePersonnummer(rng: Rng, y: number, m: number, d: number): string {
  const serial = digits(rng, 3);
  const ten = `${String(y).slice(2)}${pad2(m)}${pad2(d)}${serial}`;
  let sum = 0;
  for (let i = 0; i < 9; i++) {
    let v = Number(ten[i]) * (i % 2 === 0 ? 2 : 1);
    if (v > 9) v -= 9;
    sum += v;
  }
  const luhn = (10 - (sum % 10)) % 10;
  const wrong = (luhn + 1 + rng.int(9)) % 10;
  return `${y}${pad2(m)}${pad2(d)}-${serial}${wrong}`;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(y: number, m: number): number {
  if (m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) return 29;
  return DAYS_IN_MONTH[m - 1] ?? 31;
}

/** Keeps local parts unique (case-insensitively, across both domains) by appending 2, 3, …. */
class LocalParts {
  private readonly used = new Set<string>();
  private readonly next = new Map<string, number>();
  has(local: string): boolean {
    return this.used.has(local);
  }
  add(local: string): void {
    this.used.add(local);
  }
  claim(base: string): string {
    if (!this.used.has(base)) {
      this.used.add(base);
      return base;
    }
    let n = this.next.get(base) ?? 2;
    while (this.used.has(`${base}${n}`)) n++;
    this.next.set(base, n + 1);
    const local = `${base}${n}`;
    this.used.add(local);
    return local;
  }
}

interface Person {
  givenName: string;
  surname: string;
  english: boolean;
}

function person(rng: Rng): Person {
  const english = rng.chance(0.15);
  const givenName = english ? rng.pick(ENGLISH_GIVEN_NAMES) : rng.pick(SWEDISH_GIVEN_NAMES);
  // Some mixed families: a Swedish given name with an English surname and the other way round.
  const englishSurname = rng.chance(0.1) ? !english : english;
  const surname = englishSurname ? rng.pick(ENGLISH_SURNAMES) : rng.pick(SWEDISH_SURNAMES);
  return { givenName, surname, english };
}

const asciiCache = new Map<string, string>();

function cachedAscii(name: string): string {
  let v = asciiCache.get(name);
  if (v === undefined) {
    v = toAsciiLocal(name) || "user";
    if (asciiCache.size < 10_000) asciiCache.set(name, v);
  }
  return v;
}

function baseLocal(p: Person): string {
  const first = cachedAscii(p.givenName);
  const last = cachedAscii(p.surname);
  return `${first}.${last}`;
}

/** "ASA.OBERG@X.SE", "Asa.Oberg@x.se" …: the same address in another case. */
function otherCase(rng: Rng, upn: string): string {
  const variant = rng.int(3);
  if (variant === 0) return upn.toUpperCase();
  if (variant === 1) return upn.replace(/(^|[.@-])([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
  const at = upn.indexOf("@");
  return upn.slice(0, at + 1) + upn.slice(at + 1).toUpperCase();
}

// ---------------------------------------------------------------------------------------------------------------
// The generator

export function generateDemoTenant(o: DemoTenantOptions): DemoTenant {
  const size = o.size;
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  const federatedShare = checkShare("federatedShare", o.federatedShare, 0.3);
  const onPremisesShare = checkShare("onPremisesShare", o.onPremisesShare, 0.03);
  const immutableIdShare = checkShare("immutableIdShare", o.immutableIdShare, 0.1);
  const privilegedShare = checkShare("privilegedShare", o.privilegedShare, 0.002);
  const unmatchedShare = checkShare("unmatchedShare", o.unmatchedShare, 0.05);
  const platformOnlyShare = checkShare("platformOnlyShare", o.platformOnlyShare, 0.02);
  const unlinkedShare = checkShare("unlinkedShare", o.unlinkedShare, 0.1);
  const ambiguousShare = checkShare("ambiguousShare", o.ambiguousShare, 0.002);

  const rng = new Rng(o.seed);
  const schoolName = o.schoolName ?? rng.pick(SCHOOL_NAMES);
  const slug = slugOf(schoolName);
  const managedDomain = (o.managedDomain ?? `${slug}.onmicrosoft.com`).toLowerCase();
  const federatedDomain = (o.federatedDomain ?? `${slug}.se`).toLowerCase();

  // --- exact category counts, assigned through independent random permutations
  const nUnmatched = Math.round(size * unmatchedShare);
  const nMatched = size - nUnmatched;
  const nAmbiguous = Math.min(Math.round(size * ambiguousShare), nMatched);
  const nUnlinked = Math.min(Math.round(nMatched * unlinkedShare), nMatched - nAmbiguous);
  const nPlatformOnly = Math.round(size * platformOnlyShare);
  const nFederated = Math.round(size * federatedShare);
  const nOnPrem = Math.round(size * onPremisesShare);
  const nImmutable = Math.round((size - nOnPrem) * immutableIdShare);
  const nPrivileged = Math.min(size, Math.max(Math.round(size * privilegedShare), size >= 500 ? 1 : 0));

  const Link = { Linked: 0, Unlinked: 1, Ambiguous: 2, Unmatched: 3 } as const;
  const link = new Uint8Array(size); // Link.Linked by default
  {
    const perm = rng.permutation(size);
    let k = 0;
    for (let i = 0; i < nUnmatched; i++) link[perm[k++]!] = Link.Unmatched;
    for (let i = 0; i < nAmbiguous; i++) link[perm[k++]!] = Link.Ambiguous;
    for (let i = 0; i < nUnlinked; i++) link[perm[k++]!] = Link.Unlinked;
  }
  const federated = new Uint8Array(size);
  for (const i of rng.permutation(size).subarray(0, nFederated)) federated[i] = 1;
  const onPrem = new Uint8Array(size);
  const hasImmutable = new Uint8Array(size);
  {
    const perm = rng.permutation(size);
    for (let k = 0; k < size; k++) {
      if (k < nOnPrem) onPrem[perm[k]!] = 1;
      else if (k < nOnPrem + nImmutable) hasImmutable[perm[k]!] = 1;
    }
  }
  // Privileged users are preferably Immutable ID sync candidates (cloud, no ImmutableId, linked) so that the
  // "privileged role needed" path gets exercised; any user otherwise.
  const privileged = new Uint8Array(size);
  {
    const perm = rng.permutation(size);
    const preferred: number[] = [];
    const rest: number[] = [];
    for (const i of perm) (!onPrem[i] && !hasImmutable[i] && link[i] === Link.Linked ? preferred : rest).push(i);
    for (const i of [...preferred, ...rest].slice(0, nPrivileged)) privileged[i] = 1;
  }

  const locals = new LocalParts();
  const ids = new Set<string>();
  const immutableIds = new Set<string>();
  const uniqueGuid = (): string => {
    for (;;) {
      const g = guidString(randomGuidBytes(rng));
      if (!ids.has(g)) {
        ids.add(g);
        return g;
      }
    }
  };
  const uniqueImmutableId = (): string => {
    for (;;) {
      const v = immutableIdFromGuidBytes(randomGuidBytes(rng));
      if (!immutableIds.has(v)) {
        immutableIds.add(v);
        return v;
      }
    }
  };

  const entraUsers: DemoEntraUser[] = new Array<DemoEntraUser>(size);
  const pending: PlatformUser[] = []; // platform users, ids assigned after a shuffle
  const thisYear = 2025;

  for (let i = 0; i < size; i++) {
    const p = person(rng);
    const local = locals.claim(baseLocal(p));
    const domain = federated[i] ? federatedDomain : managedDomain;
    const upn = `${local}@${domain}`;
    const id = uniqueGuid();

    // ~75 % pupils, the rest staff.
    const pupil = rng.chance(0.75);
    const y = pupil ? rng.range(thisYear - 19, thisYear - 6) : rng.range(1958, 1999);
    const m = rng.range(1, 12);
    const d = rng.range(1, daysInMonth(y, m));
    const birthday = rng.chance(0.4) ? `${y}-${pad2(m)}-${pad2(d)}T00:00:00Z` : null;
    const ssn = rng.chance(0.8) ? fakePersonnummer(rng, y, m, d) : null;
    const eppn = rng.chance(0.9) ? `${local}@${federatedDomain}` : null;

    const mail = rng.chance(0.9) ? upn : null;
    const otherMails: string[] = [];
    if (rng.chance(pupil ? 0.15 : 0.3)) otherMails.push(`${local.replace(/\d+$/, "")}${pad2(y % 100)}@${rng.pick(PERSONAL_MAIL_DOMAINS)}`);
    if (rng.chance(0.03)) otherMails.push(`${local}@${rng.pick(PERSONAL_MAIL_DOMAINS)}`);

    const addr: Address | null = rng.chance(0.85) ? address(rng, randomTown(rng, p.english)) : null;
    // Some users have a city but no street address.
    const streetAddress = addr && rng.chance(0.95) ? addr.streetAddress : null;
    const mobilePhone = rng.chance(pupil ? 0.65 : 0.9) ? mobile(rng) : null;

    const isOnPrem = onPrem[i] === 1;
    const immutableId = isOnPrem || hasImmutable[i] ? uniqueImmutableId() : null;

    const ext: NonNullable<SimUserInput["onPremisesExtensionAttributes"]> = {};
    if (ssn !== null) ext.extensionAttribute1 = ssn;
    if (eppn !== null) ext.extensionAttribute2 = eppn;

    const user: DemoEntraUser = {
      id,
      userPrincipalName: upn,
      displayName: `${p.givenName} ${p.surname}`,
      givenName: p.givenName,
      surname: p.surname,
      mail,
      otherMails,
      city: addr?.city ?? null,
      streetAddress,
      postalCode: addr?.postalCode ?? null,
      mobilePhone,
      birthday,
      onPremisesImmutableId: immutableId,
      onPremisesSyncEnabled: isOnPrem ? true : null,
      onPremisesExtensionAttributes: ext,
      accountEnabled: rng.chance(0.97),
    };
    if (privileged[i]) user.privileged = true;
    entraUsers[i] = user;

    const kind = link[i];
    if (kind === Link.Unmatched) continue;

    if (kind === Link.Linked) {
      pending.push(mirror(rng, o.tenantId, user, p, id, upn));
    } else if (kind === Link.Unlinked) {
      pending.push(mirror(rng, o.tenantId, user, p, undefined, rng.chance(0.5) ? otherCase(rng, upn) : upn));
    } else {
      // Ambiguous: two unlinked platform users claim this UPN (a duplicate account created by hand).
      pending.push(mirror(rng, o.tenantId, user, p, undefined, upn));
      const b = mirror(rng, o.tenantId, user, p, undefined, otherCase(rng, upn));
      if (rng.chance(0.5)) delete b.email;
      pending.push(b);
    }
  }

  // Platform users with no Entra user: people who left, or accounts made on the platform only. Their userNames never
  // collide with a UPN so that linking by key cannot find them.
  for (let i = 0; i < nPlatformOnly; i++) {
    const p = person(rng);
    const local = locals.claim(baseLocal(p));
    const addr = rng.chance(0.7) ? address(rng, randomTown(rng, p.english)) : null;
    const userName = rng.chance(0.6)
      ? `${local}@${rng.chance(0.5) ? federatedDomain : managedDomain}`
      : `${local}@${rng.pick(PERSONAL_MAIL_DOMAINS)}`;
    const pu: PlatformUser = { id: "", tenantId: o.tenantId, userName, firstName: p.givenName, lastName: p.surname };
    if (addr) {
      pu.city = addr.city;
      pu.address = addr.streetAddress;
      pu.zipCode = addr.postalCode;
    }
    if (rng.chance(0.6)) pu.mobilePhone = mobile(rng);
    if (rng.chance(0.8)) pu.email = userName;
    // Some were linked to an Entra user that has since been deleted.
    if (rng.chance(0.25)) pu.externalId = uniqueGuid();
    pending.push(pu);
  }

  const order = rng.permutation(pending.length);
  const width = Math.max(6, String(pending.length).length);
  const platformUsers: PlatformUser[] = new Array<PlatformUser>(pending.length);
  for (let k = 0; k < order.length; k++) {
    const pu = pending[order[k]!]!;
    pu.id = `p-${String(k + 1).padStart(width, "0")}`;
    platformUsers[k] = pu;
  }

  return { schoolName, managedDomain, federatedDomain, entraUsers, platformUsers };
}

/**
 * The platform user mirroring an Entra user, with only the attributes it has (no `undefined` keys); ~30 % stale so
 * that a first sync has updates to make.
 */
function mirror(
  rng: Rng,
  tenantId: string,
  u: DemoEntraUser,
  p: Person,
  externalId: string | undefined,
  userName: string,
): PlatformUser {
  let city = u.city ?? undefined;
  let address_ = u.streetAddress ?? undefined;
  let zipCode = u.postalCode ?? undefined;
  let mobilePhone = u.mobilePhone ?? undefined;
  let lastName = u.surname ?? undefined;
  let homePhone: string | undefined;
  let ssn = u.onPremisesExtensionAttributes?.extensionAttribute1 ?? undefined;
  let eppn = u.onPremisesExtensionAttributes?.extensionAttribute2 ?? undefined;
  let birthDate = u.birthday ? u.birthday.slice(0, 10) : undefined;
  if (rng.chance(0.3)) {
    const what = rng.int(6);
    if (what === 0 || what === 1) {
      const old = address(rng, randomTown(rng, p.english));
      city = old.city;
      address_ = old.streetAddress;
      zipCode = old.postalCode;
    } else if (what === 2) {
      mobilePhone = mobile(rng);
    } else if (what === 3) {
      city = address(rng, randomTown(rng, p.english)).city;
      mobilePhone = rng.chance(0.5) ? mobile(rng) : undefined;
    } else if (what === 4) {
      // A maiden name still in the platform, and a landline.
      const old = rng.pick(p.english ? ENGLISH_SURNAMES : SWEDISH_SURNAMES);
      if (old !== lastName) lastName = old;
      homePhone = `+46 ${rng.pick(["8", "31", "40", "18", "21"])}-${digits(rng, 3)} ${digits(rng, 2)} ${digits(rng, 2)}`;
    } else {
      // Attributes the platform never got.
      ssn = undefined;
      birthDate = undefined;
      eppn = undefined;
    }
  }
  const pu: PlatformUser = { id: "", tenantId };
  if (externalId !== undefined) pu.externalId = externalId;
  pu.userName = userName;
  const email = u.mail ?? u.otherMails?.[0];
  if (email !== undefined) pu.email = email;
  if (u.givenName) pu.firstName = u.givenName;
  if (lastName !== undefined) pu.lastName = lastName;
  if (city !== undefined) pu.city = city;
  if (address_ !== undefined) pu.address = address_;
  if (zipCode !== undefined) pu.zipCode = zipCode;
  if (birthDate !== undefined) pu.birthDate = birthDate;
  if (homePhone !== undefined) pu.homePhone = homePhone;
  if (mobilePhone !== undefined) pu.mobilePhone = mobilePhone;
  if (eppn !== undefined) pu.eppn = eppn;
  if (ssn !== undefined) pu.ssn = ssn;
  return pu;
}

// ---------------------------------------------------------------------------------------------------------------
// Changes

const CLEARABLE = ["mobilePhone", "city", "streetAddress", "postalCode", "birthday", "mail"] as const;

/**
 * `count` realistic changes to distinct users of `t` (fewer when the tenant is smaller): a move (city, street address,
 * postal code), a new mobile number, a surname change with a new mail address, or a property cleared to `null`.
 * Deterministic from `seed`; `t` is not modified (apply the patches to the simulator, or to `t` yourself).
 */
export function changeUsers(t: DemoTenant, count: number, seed: number): DemoUserChange[] {
  const rng = new Rng(seed ^ 0x2545f491);
  const n = t.entraUsers.length;
  const k = Math.max(0, Math.min(Math.floor(count), n));
  if (k === 0) return [];

  const locals = new LocalParts();
  for (const u of t.entraUsers) {
    locals.add(u.userPrincipalName.slice(0, u.userPrincipalName.indexOf("@")).toLowerCase());
    if (u.mail) locals.add(u.mail.slice(0, u.mail.indexOf("@")).toLowerCase());
  }

  const picked = k * 2 > n ? Array.from(rng.permutation(n).subarray(0, k)) : sampleSparse(rng, n, k);
  const changes: DemoUserChange[] = [];
  for (const i of picked) {
    const u = t.entraUsers[i]!;
    const english = u.city ? ENGLISH_TOWNS.some((tw) => tw.city === u.city) : false;
    const roll = rng.next();
    let patch: Partial<SimUser>;
    if (roll < 0.35) {
      let town = randomTown(rng, english);
      if (town.city === u.city) town = randomTown(rng, english);
      patch = { ...address(rng, town) };
    } else if (roll < 0.65) {
      patch = { mobilePhone: mobile(rng) };
    } else if (roll < 0.8 && u.givenName) {
      const pool = rng.chance(english ? 0.7 : 0.15) ? ENGLISH_SURNAMES : SWEDISH_SURNAMES;
      let surname = rng.pick(pool);
      if (surname === u.surname) surname = rng.pick(pool);
      const at = (u.mail ?? u.userPrincipalName).indexOf("@");
      const domain = (u.mail ?? u.userPrincipalName).slice(at + 1);
      const local = locals.claim(baseLocal({ givenName: u.givenName, surname, english }));
      patch = { surname, displayName: `${u.givenName} ${surname}`, mail: `${local}@${domain}` };
    } else {
      const set = CLEARABLE.filter((p) => u[p] !== null && u[p] !== undefined);
      const prop = set.length > 0 ? rng.pick(set) : undefined;
      patch = prop ? { [prop]: null } : { mobilePhone: mobile(rng) };
    }
    changes.push({ id: u.id, patch });
  }
  return changes;
}

function sampleSparse(rng: Rng, n: number, k: number): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  while (out.length < k) {
    const i = rng.int(n);
    if (!seen.has(i)) {
      seen.add(i);
      out.push(i);
    }
  }
  return out;
}
