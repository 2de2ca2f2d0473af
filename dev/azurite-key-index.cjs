/* global require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload for the Azurite child process */
// Preloaded into the Azurite child process of the local stack (dev/azurite.ts, `--require`, after
// azurite-keyed-lookup.cjs): makes the cost of a write independent of the partition's size, as Table Storage's is.
//
// Azurite keeps each table in a LokiJS collection with binary indexes on PartitionKey and RowKey. Loki keeps those
// indexes as arrays of data positions and maintains them adaptively: removing a row (every replace, merge and delete
// is a remove + insert) scans the PartitionKey index over the row's whole partition to find it, then walks both
// indexes to shift every later position down by one; an update scans an index linearly. So a 100-row transaction
// cost 86 ms at 2,500 rows per partition and 326 ms at 25,000.
//
// Here a table's collection is made without Loki's binary indexes; instead each one gets a key index of its own —
// a Map of partitions, each a B+ tree of its rows by RowKey (sorted-btree) — kept current on every add, remove,
// update and clear. Keyed reads (`findOne({ PartitionKey, RowKey })`) use it, and so does every query whose filter
// pins the PartitionKey (`PartitionKey eq 'p'`, with or without RowKey bounds and other conditions): the rows of
// that partition are walked in key order from the lower bound, Azurite's own predicate and continuation test are
// applied to each, and the walk stops once a page (plus one row, as Azurite asks for) is found. Results are the same
// rows in the same order as Azurite's scan-and-sort; other queries take Azurite's own path unchanged.
"use strict";
const path = require("node:path");

const azuriteDir = path.dirname(require.resolve("azurite/package.json"));
const fromAzurite = (m) => require(require.resolve(m, { paths: [azuriteDir] }));
let loki, Store, parse, BTree;
try {
  loki = fromAzurite("lokijs");
  Store = fromAzurite("azurite/dist/src/table/persistence/LokiTableMetadataStore.js").default;
  parse = fromAzurite("azurite/dist/src/table/persistence/QueryInterpreter/QueryParser.js").default;
  BTree = require("sorted-btree").default;
} catch {
  loki = undefined; // another Azurite layout: run it as it is
}

const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** Rows by PartitionKey, then RowKey (ordered). */
class KeyIndex {
  constructor() {
    this.partitions = new Map();
  }
  get(pk, rk) {
    const p = this.partitions.get(pk);
    return p === undefined ? undefined : p.get(rk);
  }
  set(doc) {
    let p = this.partitions.get(doc.PartitionKey);
    if (p === undefined) this.partitions.set(doc.PartitionKey, (p = new BTree(undefined, compare)));
    p.set(doc.RowKey, doc);
  }
  delete(pk, rk) {
    const p = this.partitions.get(pk);
    if (p === undefined) return;
    p.delete(rk);
    if (p.size === 0) this.partitions.delete(pk);
  }
}

/** The PartitionKey a filter pins and the RowKey bounds it sets (inclusive, loose: the real test is Azurite's), or undefined. */
function keyRange(filter) {
  if (typeof filter !== "string" || filter === "") return undefined;
  let tree;
  try {
    tree = parse(filter);
  } catch {
    return undefined; // Azurite's own path reports the error
  }
  const out = { pk: undefined, lo: undefined, hi: undefined };
  const walk = (n) => {
    if (!n) return;
    if (n.name === "and") {
      walk(n.left);
      walk(n.right);
      return;
    }
    const flip = { eq: "eq", ge: "le", gt: "lt", le: "ge", lt: "gt" };
    let op = n.name, id = n.left, c = n.right;
    if (!(op in flip)) return;
    if (id && id.name === "constant" && c && c.name === "id") [id, c, op] = [c, id, flip[op]];
    if (!id || id.name !== "id" || !c || c.name !== "constant" || typeof c.value !== "string") return;
    if (id.identifier === "PartitionKey" && op === "eq") {
      if (out.pk !== undefined && out.pk !== c.value) out.none = true;
      out.pk = c.value;
    } else if (id.identifier === "RowKey") {
      if (op === "eq" || op === "ge" || op === "gt") out.lo = out.lo === undefined || c.value > out.lo ? c.value : out.lo;
      if (op === "eq" || op === "le" || op === "lt") out.hi = out.hi === undefined || c.value < out.hi ? c.value : out.hi;
    }
  };
  walk(tree);
  return out.pk === undefined ? undefined : out;
}

if (loki && Store && parse && BTree && !loki.Collection.prototype.__keyIndex) {
  const C = loki.Collection.prototype;
  C.__keyIndex = true;

  // Tables' collections (Azurite asks for indices on exactly PartitionKey and RowKey): no binary indexes, a key index.
  const addCollection = loki.prototype.addCollection;
  loki.prototype.addCollection = function (name, options) {
    const i = options && options.indices;
    if (Array.isArray(i) && i.length === 2 && i[0] === "PartitionKey" && i[1] === "RowKey") {
      const coll = addCollection.call(this, name, { ...options, indices: [], adaptiveBinaryIndices: false });
      coll.__keys = new KeyIndex();
      return coll;
    }
    return addCollection.call(this, name, options);
  };

  const add = C.add;
  C.add = function (obj) {
    const r = add.call(this, obj);
    if (this.__keys) this.__keys.set(obj);
    return r;
  };
  const remove = C.remove;
  C.remove = function (doc) {
    if (!this.__keys || Array.isArray(doc)) return remove.call(this, doc);
    const d = typeof doc === "number" ? this.get(doc) : doc;
    const pk = d && d.PartitionKey, rk = d && d.RowKey;
    // The entry is the removed row's own (same $loki) when looked at before: Loki deletes $loki from what it removes.
    const cur = d ? this.__keys.get(pk, rk) : undefined;
    const mine = cur !== undefined && d.$loki !== undefined && cur.$loki === d.$loki;
    const r = remove.call(this, doc);
    if (r && mine) this.__keys.delete(pk, rk);
    return r;
  };
  const update = C.update;
  C.update = function (doc) {
    if (!this.__keys || Array.isArray(doc)) return update.call(this, doc);
    const old = doc && doc.$loki !== undefined ? this.get(doc.$loki) : null;
    const oldKeys = old ? [old.PartitionKey, old.RowKey] : undefined;
    const r = update.call(this, doc);
    const now = this.get(doc.$loki);
    if (now) {
      if (oldKeys && (oldKeys[0] !== now.PartitionKey || oldKeys[1] !== now.RowKey)) this.__keys.delete(oldKeys[0], oldKeys[1]);
      this.__keys.set(now);
    }
    return r;
  };
  const clear = C.clear;
  C.clear = function (options) {
    const r = clear.call(this, options);
    if (this.__keys) this.__keys = new KeyIndex();
    return r;
  };
  const findOne = C.findOne;
  C.findOne = function (query) {
    if (this.__keys && query && typeof query === "object") {
      const k = Object.keys(query);
      if (k.length === 2 && typeof query.PartitionKey === "string" && typeof query.RowKey === "string") return this.__keys.get(query.PartitionKey, query.RowKey) ?? null;
    }
    return findOne.call(this, query);
  };

  // Queries that pin a partition: walk that partition in key order (see the top of this file).
  const generator = fromAzurite("azurite/dist/src/table/persistence/LokiTableStoreQueryGenerator.js").default;
  const query = Store.prototype.queryTableEntities;
  Store.prototype.queryTableEntities = async function (context, account, table, queryOptions, nextPartitionKey, nextRowKey) {
    const coll = this.getEntityCollection(account, table, context);
    const range = coll.__keys ? keyRange(queryOptions && queryOptions.filter) : undefined;
    if (!range) return query.call(this, context, account, table, queryOptions, nextPartitionKey, nextRowKey);
    const where = generator.generateQueryForPersistenceLayer(queryOptions, context);
    const max = this.getMaxResultsOption(queryOptions);
    const nextPk = this.decodeContinuationHeader(nextPartitionKey);
    const nextRk = this.decodeContinuationHeader(nextRowKey);
    // Azurite's continuation test, as it is.
    const after = (data) => {
      if (nextPk !== undefined && data.PartitionKey > nextPk) return true;
      if (nextRk !== undefined) return data.RowKey >= nextRk && (data.PartitionKey === nextPk || data.PartitionKey === undefined);
      if (nextPk !== undefined && data.PartitionKey < nextPk) return false;
      return true;
    };
    const result = [];
    const rows = range.none ? undefined : coll.__keys.partitions.get(range.pk);
    if (rows) {
      let lo = range.lo;
      if (nextRk !== undefined && nextPk === range.pk && (lo === undefined || nextRk > lo)) lo = nextRk;
      for (const [rk, doc] of rows.entries(lo)) {
        if (range.hi !== undefined && rk > range.hi) break;
        if (!after(doc) || !where(doc)) continue;
        result.push(doc);
        if (result.length > max) break;
      }
    }
    const response = this.adjustQueryResultforTop(result, max);
    return [result, response.nextPartitionKeyResponse, response.nextRowKeyResponse];
  };
}
