/* global require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload for the Azurite child process */
// Preloaded into the Azurite child process of the local stack (dev/azurite.ts, `--require`): Azurite's LokiJS store looks an entity up with
// findOne({ PartitionKey, RowKey }), which uses the PartitionKey index and then scans the whole partition, so every
// write costs O(partition size) — 20 ms per row in a 30,000-row partition. Real Table Storage looks rows up by key.
// Asking for RowKey first lets Loki use its RowKey index (a few candidates) and keeps results identical.
"use strict";
const path = require("node:path");
let loki;
try {
  loki = require(require.resolve("lokijs", { paths: [path.dirname(require.resolve("azurite/package.json"))] }));
} catch {
  loki = undefined;
}
if (loki && loki.Collection && !loki.Collection.prototype.__benchKeyed) {
  const findOne = loki.Collection.prototype.findOne;
  loki.Collection.prototype.findOne = function (query) {
    if (query && typeof query === "object" && "PartitionKey" in query && "RowKey" in query && Object.keys(query).length === 2)
      return findOne.call(this, { RowKey: query.RowKey, PartitionKey: query.PartitionKey });
    return findOne.call(this, query);
  };
  loki.Collection.prototype.__benchKeyed = true;
}

// Range queries (`PartitionKey eq 'p' and RowKey ge 'a' [and RowKey lt 'b']`): Azurite runs every query as a scan of
// the whole table with a predicate made from the filter. Table Storage serves a key range from its clustered index.
// When a filter has exactly that shape, the scan is first narrowed with Loki's RowKey (or PartitionKey) index; the
// predicate Azurite made is still applied to what is left, so results are the same rows in the same order.
let generator;
try {
  generator = require(require.resolve("azurite/dist/src/table/persistence/LokiTableStoreQueryGenerator.js", { paths: [path.dirname(require.resolve("azurite/package.json"))] })).default;
} catch {
  generator = undefined;
}
if (loki && generator && !generator.__benchRange) {
  const str = "'((?:[^']|'')*)'";
  const shape = new RegExp(`^\\s*\\(?PartitionKey eq ${str}\\)? and \\(?RowKey ge ${str}\\)?(?: and \\(?RowKey lt ${str}\\)?)?\\s*$`);
  const unquote = (s) => s.replace(/''/g, "'");
  // Loki compares strings that look like numbers as numbers: narrow only ranges whose strings never look like one.
  const plain = (lo, hi) => {
    let i = 0;
    while (i < lo.length && i < hi.length && lo[i] === hi[i]) i++;
    return /[^0-9A-Za-z.+\-\s]/.test(lo.slice(0, i));
  };
  const make = generator.generateQueryEntityWhereFunction;
  generator.generateQueryEntityWhereFunction = function (query) {
    const fn = make.call(this, query);
    const m = typeof query === "string" ? shape.exec(query) : null;
    if (m) fn.__keyRange = { pk: unquote(m[1]), lo: unquote(m[2]), hi: m[3] === undefined ? undefined : unquote(m[3]) };
    return fn;
  };
  const where = loki.Resultset.prototype.where;
  loki.Resultset.prototype.where = function (fun) {
    const r = fun && fun.__keyRange;
    if (r && !this.filterInitialized) {
      if (r.hi !== undefined && plain(r.lo, r.hi)) this.find({ RowKey: { $between: [r.lo, r.hi] } });
      else this.find({ PartitionKey: r.pk });
    }
    return where.call(this, fun);
  };
  generator.__benchRange = true;
}
