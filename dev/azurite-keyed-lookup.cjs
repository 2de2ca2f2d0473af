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
