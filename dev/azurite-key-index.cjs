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
// Our own dependency: missing (`npm install` not run since it was added), Azurite does not start, and says why —
// without it the local stack would silently measure LokiJS's O(partition) writes and O(table) query pages again.
const BTree = require("sorted-btree").default;
let loki, Store, parse, off;
try {
  loki = fromAzurite("lokijs");
  Store = fromAzurite("azurite/dist/src/table/persistence/LokiTableMetadataStore.js").default;
  parse = fromAzurite("azurite/dist/src/table/persistence/QueryInterpreter/QueryParser.js").default;
} catch (e) {
  loki = undefined; // another Azurite layout: run it as it is, and say so (dev/azurite.ts refuses to go on)
  off = e && e.message ? e.message.split("\n")[0] : String(e);
}

const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** Rows by PartitionKey, then RowKey: ordered (a B+ tree per partition, for walks) and hashed (for keyed reads). */
class KeyIndex {
  constructor() {
    this.partitions = new Map();
    // A keyed read (every write makes two or three) is a hash lookup: a B+ tree's ~20 string comparisons, each a
    // likely cache miss in a 500,000-row table, were 8 % of Azurite's busy time in a 100,000-user sync.
    this.rows = new Map();
  }
  get(pk, rk) {
    const p = this.rows.get(pk);
    return p === undefined ? undefined : p.get(rk);
  }
  set(doc) {
    let p = this.partitions.get(doc.PartitionKey);
    if (p === undefined) {
      this.partitions.set(doc.PartitionKey, (p = new BTree(undefined, compare)));
      this.rows.set(doc.PartitionKey, new Map());
    }
    p.set(doc.RowKey, doc);
    this.rows.get(doc.PartitionKey).set(doc.RowKey, doc);
  }
  delete(pk, rk) {
    const p = this.partitions.get(pk);
    if (p === undefined) return;
    p.delete(rk);
    const r = this.rows.get(pk);
    r.delete(rk);
    if (r.size === 0) {
      this.partitions.delete(pk);
      this.rows.delete(pk);
    }
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

if (loki && Store && parse && !loki.Collection.prototype.__keyIndex) {
  const C = loki.Collection.prototype;
  C.__keyIndex = true;

  // Tables' collections (Azurite asks for indices on exactly PartitionKey and RowKey): no binary indexes, a key index.
  const addCollection = loki.prototype.addCollection;
  loki.prototype.addCollection = function (name, options) {
    const i = options && options.indices;
    if (Array.isArray(i) && i.length === 2 && i[0] === "PartitionKey" && i[1] === "RowKey") {
      const coll = addCollection.call(this, name, { ...options, indices: [], adaptiveBinaryIndices: false });
      coll.__keys = new KeyIndex();
      coll.__pos = new Map();
      return coll;
    }
    return addCollection.call(this, name, options);
  };

  // Where each row sits in the collection's arrays. Loki removes a row by splicing it out of `data` and `idIndex`
  // (the whole table's rows: a replace, merge-by-remove or delete moved O(table) pointers — 0.9 ms per write at
  // 500,000 rows, which made a 100,000-user sync quadratic) and finds a row by binary search of `idIndex` in $loki
  // order. Here a removed row's slot takes the last row instead (O(1)), and rows are found through this map; the
  // order of `data` is then not insertion order, which no answer depends on (queries are answered in key order).
  const add = C.add;
  C.add = function (obj) {
    const r = add.call(this, obj);
    if (this.__keys) {
      this.__keys.set(obj);
      this.__pos.set(obj.$loki, this.data.length - 1);
    }
    return r;
  };
  const get = C.get;
  C.get = function (id, returnPosition) {
    if (!this.__pos) return get.call(this, id, returnPosition);
    if (!this.idIndex) this.ensureId(); // Loki builds it lazily here, and its update writes to it
    const n = typeof id === "number" ? id : parseInt(id, 10);
    if (isNaN(n)) throw new TypeError("Passed id is not an integer");
    const at = this.__pos.get(n);
    if (at === undefined) return null;
    return returnPosition ? [this.data[at], at] : this.data[at];
  };
  const remove = C.remove;
  C.remove = function (doc) {
    if (!this.__keys) return remove.call(this, doc);
    if (Array.isArray(doc) || !this.disableFreeze || this.uniqueNames.length || this.DynamicViews.length || this.transactional) {
      // Not a shape Azurite uses: Loki's own remove (it splices), then every position found again.
      const gone = (Array.isArray(doc) ? doc : [doc]).map((x) => (typeof x === "number" ? this.get(x) : x)).filter((x) => x && x.$loki !== undefined).map((x) => [x.PartitionKey, x.RowKey, x.$loki]);
      const r = remove.call(this, doc);
      this.__pos = new Map(this.data.map((x, i) => [x.$loki, i]));
      for (const [pk, rk, id] of gone) if (this.__keys.get(pk, rk)?.$loki === id && !this.__pos.has(id)) this.__keys.delete(pk, rk);
      return r;
    }
    const d = typeof doc === "number" ? this.get(doc) : doc;
    if (!d || typeof d !== "object" || !Object.prototype.hasOwnProperty.call(d, "$loki")) return remove.call(this, doc); // Loki's own errors
    const at = this.__pos.get(d.$loki);
    if (at === undefined) return remove.call(this, doc);
    if (!this.idIndex) this.ensureId();
    const last = this.data.length - 1;
    if (at !== last) {
      const moved = this.data[last];
      this.data[at] = moved;
      this.idIndex[at] = this.idIndex[last];
      this.__pos.set(moved.$loki, at);
    }
    this.data.pop();
    this.idIndex.pop();
    this.__pos.delete(d.$loki);
    // The entry is the removed row's own (same $loki): another row with its keys may have been added meanwhile.
    const cur = this.__keys.get(d.PartitionKey, d.RowKey);
    if (cur !== undefined && cur.$loki === d.$loki) this.__keys.delete(d.PartitionKey, d.RowKey);
    // The rest of what Loki's remove does for a collection like this one (no unique or binary index, no view).
    this.flagBinaryIndexesDirty();
    this.removeAutoUpdateObserver(d);
    if (this.isIncremental) this.dirtyIds.push(d.$loki);
    this.dirty = true;
    this.emit("delete", d);
    delete d.$loki;
    delete d.meta;
    return d;
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
    if (this.__keys) {
      this.__keys = new KeyIndex();
      this.__pos = new Map();
    }
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

// dev/azurite.ts reads this line (stdout, before Azurite's own) to know the key index is on.
process.stdout.write(loki && Store && parse && loki.Collection.prototype.__keyIndex ? "entra-sync key index: on\n" : `entra-sync key index: off (${off ?? "unknown Azurite layout"})\n`);
