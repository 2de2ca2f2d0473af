/* global require, module */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload for the Azurite child process */
// Preloaded into the Azurite child process of the local stack (dev/azurite.ts, `--require`, with the key index): to
// find a batch request's boundary, Azurite URI-decodes the whole body (~100 KB for a 100-entity transaction) and
// then takes the first `--batch_…` it finds — about a tenth of its CPU in a full read. The boundary opens the body,
// so the first line is decoded and searched first; only a body whose first line holds none is searched whole, as
// before. Same boundary, same errors (test/dev/azurite-batch-boundary.test.ts compares the two).
"use strict";
const path = require("node:path");

let Serialization;
try {
  const azuriteDir = path.dirname(require.resolve("azurite/package.json"));
  Serialization = require(require.resolve("azurite/dist/src/table/batch/BatchSerialization.js", { paths: [azuriteDir] })).BatchSerialization;
} catch {
  Serialization = undefined; // another Azurite layout: left as it is
}

/** Wraps `extract(body)`: the first line first, the whole body only when the first line has no boundary. */
function firstLineFirst(extract) {
  return function (body) {
    if (typeof body === "string") {
      const end = body.indexOf("\n");
      if (end > 0) {
        try {
          return extract.call(this, body.slice(0, end));
        } catch {
          // no boundary on the first line: the whole body, as Azurite does
        }
      }
    }
    return extract.call(this, body);
  };
}

if (Serialization && !Serialization.prototype.__firstLineFirst) {
  Serialization.prototype.extractBatchBoundary = firstLineFirst(Serialization.prototype.extractBatchBoundary);
  Serialization.prototype.__firstLineFirst = true;
}

module.exports = { firstLineFirst };
