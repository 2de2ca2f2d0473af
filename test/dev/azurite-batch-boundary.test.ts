import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";

// The local stack's Azurite finds a batch's boundary on the body's first line first (dev/azurite-batch-boundary.cjs):
// the same boundary as Azurite's own search of the whole URI-decoded body, and the same error when there is none.
const require = createRequire(import.meta.url);
const azuriteDir = path.dirname(require.resolve("azurite/package.json"));
type Serialization = { batchBoundary: string; extractBatchBoundary(body: string): void };
const { BatchSerialization } = require(require.resolve("azurite/dist/src/table/batch/BatchSerialization.js", { paths: [azuriteDir] })) as { BatchSerialization: new () => Serialization };
// Azurite's own method, taken before the preload (required next, in this process too) wraps it.
const own = BatchSerialization.prototype.extractBatchBoundary;
const { firstLineFirst } = require("../../dev/azurite-batch-boundary.cjs") as { firstLineFirst: (f: (body: string) => void) => (this: Serialization, body: string) => void };

function boundary(extract: (this: Serialization, body: string) => void, body: string): string {
  const s = new BatchSerialization();
  try {
    extract.call(s, body);
    return s.batchBoundary;
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

const batch = (id: string, eol: string, value: string) =>
  [`--batch_${id}`, "Content-Type: multipart/mixed; boundary=changeset_77e2-aa", "", "--changeset_77e2-aa", "Content-Type: application/http", "", "POST http://127.0.0.1:10002/devstoreaccount1/t HTTP/1.1", "", JSON.stringify({ PartitionKey: "p", RowKey: "r", note: value }), `--changeset_77e2-aa--`, `--batch_${id}--`, ""].join(eol);

describe("Azurite batch boundary, first line first", () => {
  const bodies: Array<[string, string]> = [
    ["CRLF", batch("5b0e7c3e-1f2a-4c1d-9d35-0a4cbd1f3b11", "\r\n", "plain")],
    ["LF", batch("a1b2", "\n", "plain")],
    ["a % that is no escape (decodeURI of the body throws)", batch("c3d4-e5", "\r\n", "50% of 100%")],
    ["escaped characters later in the body", batch("f6", "\r\n", "caf%C3%A9 %2D%2Dbatch_other")],
    ["a first line without the boundary", `\r\n${batch("g7-h8", "\r\n", "x")}`],
    ["a boundary only after other text", `preamble --batch_late-1\r\n${batch("i9", "\r\n", "x")}`],
    ["no boundary at all", "POST http://x HTTP/1.1\r\n\r\n{}"],
    ["one line", "--batch_only"],
  ];
  it.each(bodies)("%s", (_name, body) => {
    expect(BatchSerialization.prototype.extractBatchBoundary).not.toBe(own); // the preload applies to Azurite's class
    expect(boundary(firstLineFirst(own), body)).toBe(boundary(own, body));
  });
});
