/**
 * Entity-group transactions written by our own code, sent through the TableClient's own pipeline (its credential
 * policy, retries, request counters): the same request on the wire as `TableClient.submitTransaction` of
 * @azure/data-tables, for a fraction of its CPU.
 *
 * Why not the SDK's: for every transaction it builds a second TableClient (a whole pipeline, then cleared), and sends
 * each sub-request through a generated operation of its own — tracing span, operation spec, URL template, body
 * serializer, a request id drawn from the CRNG, a pipeline — only to turn it back into text. A full read of 10,000
 * users writes some 30,000 entities in transactions; measured in `npm run bench -- full-read`, that path was the
 * largest single cost of our CPU after GC (bench/README.md, "What was changed after measuring"). Here a sub-request
 * is a few string concatenations and the entity one `JSON.stringify`.
 *
 * The format is Table Storage's documented batch format (multipart/mixed: one changeset of HTTP sub-requests) with the
 * exact sub-requests the SDK sends (methods, URLs, headers, bodies: test/state/table-transaction.test.ts compares them
 * byte for byte). Entities of other than string, number and boolean values (Dates, bigints, binary, typed values),
 * and entities naming `etag` or `timestamp`, are left to the SDK's own path, which knows their OData types.
 */
import { randomUUID } from "node:crypto";
import type { TableClient, TableTransactionEntityResponse, TableTransactionResponse, TransactionAction } from "@azure/data-tables";
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, RestError, type HttpClient, type PipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";

const CRLF = "\r\n";
let httpClient: HttpClient | undefined;

/** True when our serializer writes every entity of the transaction exactly as the SDK would. */
export function plainTransaction(actions: readonly TransactionAction[]): boolean {
  for (const a of actions) {
    const e = a[1] as Record<string, unknown>;
    if (typeof e.partitionKey !== "string" || typeof e.rowKey !== "string") return false;
    if (a[0] === "delete") continue;
    for (const k in e) {
      if (k === "etag" || k === "timestamp" || k === "odata.etag") return false;
      const v = e[k];
      if (v === undefined || v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) continue;
      return false;
    }
  }
  return true;
}

/** A key as it appears in an entity URL: quotes doubled, then URL-encoded. */
const keyInUrl = (k: string) => encodeURIComponent(k.includes("'") ? k.replace(/'/g, "''") : k);

/**
 * The request body, written as UTF-8 into one Buffer a sub-request at a time: no string of the whole body is made
 * (and flattened, measured, then copied again by the socket write).
 */
class Body {
  private buf: Buffer;
  private n = 0;
  /** `expected`: bytes the body will likely take (so that it is not grown and copied on the way). */
  constructor(expected: number) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(16 * 1024, expected));
  }
  write(s: string): void {
    // At most 3 bytes per UTF-16 code unit.
    if (this.n + s.length * 3 > this.buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.n + s.length * 3));
      this.buf.copy(grown, 0, 0, this.n);
      this.buf = grown;
    }
    this.n += this.buf.write(s, this.n);
  }

  /**
   * The entity as Table Storage's JSON names it (PartitionKey, RowKey), in its own order, undefined properties left
   * out: `JSON.stringify` of the entity (one flat string, which leaves undefined out) written as it is, then the first
   * letter of the two key names upper-cased in the bytes written (the names keep their length, so nothing moves). A
   * plain entity's values are strings, numbers and booleans, and JSON escapes every quote inside a string (and UTF-8
   * never uses an ASCII byte inside a multibyte character), so `{"rowKey":` or `,"rowKey":` can only be where that
   * property's name begins.
   */
  writeEntity(e: Record<string, unknown>): void {
    const start = this.n;
    this.write(JSON.stringify(e));
    const written = this.buf.subarray(start, this.n);
    for (const name of KEY_NAMES) {
      const at = written.subarray(0, name.first.length).equals(name.first) ? 0 : written.indexOf(name.next);
      if (at >= 0) written[at + 2] = name.upper;
    }
  }

  done(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

/** The two key names as they begin in an entity's JSON (first or after another property), and their upper-case letter. */
const KEY_NAMES = ["partitionKey", "rowKey"].map((k) => ({ first: Buffer.from(`{"${k}":`), next: Buffer.from(`,"${k}":`), upper: k.toUpperCase().charCodeAt(0) }));

/** One sub-request of the changeset (after its boundary line), its entity written by `writeEntity`. */
function writeSubRequest(out: Body, boundary: string, tableUrl: string, action: TransactionAction): void {
  const [kind, entity] = action;
  const e = entity as Record<string, unknown>;
  const head = `${boundary}content-type: application/http${CRLF}content-transfer-encoding: binary${CRLF}${CRLF}`;
  switch (kind) {
    case "create":
      out.write(`${head}POST ${tableUrl} HTTP/1.1${CRLF}Content-Type: application/json;odata=nometadata${CRLF}Accept: application/json;odata=minimalmetadata${CRLF}DataServiceVersion: 3.0${CRLF}Prefer: return-no-content${CRLF}${CRLF}${CRLF}`);
      out.writeEntity(e);
      return;
    case "delete":
      out.write(`${head}DELETE ${entityUrl(tableUrl, e)} HTTP/1.1${CRLF}Accept: application/json;odata=minimalmetadata${CRLF}DataServiceVersion: 3.0${CRLF}If-Match: *${CRLF}${CRLF}`);
      return;
    case "update":
    case "upsert": {
      const mode = action[2] ?? "Merge";
      const etag = kind === "update" ? (action[3] as { etag?: string } | undefined)?.etag ?? "*" : undefined;
      out.write(`${head}${mode === "Replace" ? "PUT" : "PATCH"} ${entityUrl(tableUrl, e)} HTTP/1.1${CRLF}Content-Type: application/json${CRLF}DataServiceVersion: 3.0${CRLF}Accept: application/json${CRLF}${etag === undefined ? "" : `If-Match: ${etag}${CRLF}`}${CRLF}${CRLF}`);
      out.writeEntity(e);
      return;
    }
    default:
      throw new Error(`Unknown transaction action ${String(kind)}`);
  }
}

const entityUrl = (tableUrl: string, e: Record<string, unknown>) => `${tableUrl}(PartitionKey='${keyInUrl(e.partitionKey as string)}',RowKey='${keyInUrl(e.rowKey as string)}')`;

/** The request body (UTF-8): one changeset holding every action, in order. */
export function transactionBody(accountUrl: string, tableName: string, actions: readonly TransactionAction[], batchId: string, changesetId: string): Buffer {
  const tableUrl = `${accountUrl.endsWith("/") ? accountUrl : `${accountUrl}/`}${tableName}`;
  // ~2 KiB per sub-request (its lines and a user's JSON, as UTF-8 with the write's 3-bytes-per-unit margin).
  const out = new Body(1024 + actions.length * 2048);
  out.write(`--batch_${batchId}${CRLF}content-type: multipart/mixed; boundary=changeset_${changesetId}${CRLF}${CRLF}`);
  // Per sub-request one write of its lines and one of its entity: short strings, each copied once into the body.
  const boundary = `${CRLF}--changeset_${changesetId}${CRLF}`;
  for (const a of actions) writeSubRequest(out, boundary, tableUrl, a);
  out.write(`${CRLF}--changeset_${changesetId}--${CRLF}--batch_${batchId}--${CRLF}`);
  return out.done();
}

/** A RestError from an error body (`odata.error`), as the SDK raises it. */
function errorOf(body: string, statusCode: number, request: PipelineRequest, response: PipelineResponse): RestError {
  let message = "Transaction Failed";
  let code: string | undefined;
  try {
    const err = (JSON.parse(body) as { "odata.error"?: { code?: string; message?: { value?: string } } })["odata.error"];
    if (err) {
      message = err.message?.value ?? message;
      code = err.code;
    }
  } catch {
    // not JSON: the generic message
  }
  return new RestError(message, { code, statusCode, request, response });
}

/** The sub-responses of a batch answer; the first that carries an error body is thrown. */
export function parseTransactionAnswer(response: PipelineResponse): TableTransactionResponse {
  const body = response.bodyAsText ?? "";
  if (response.status < 200 || response.status >= 300) throw errorOf(body, response.status, response.request, response);
  const boundary = /boundary=(changesetresponse_[^\s;]+)/.exec(body)?.[1];
  const parts = boundary ? body.split(`--${boundary}`).slice(1, -1) : [];
  const subResponses: TableTransactionEntityResponse[] = parts.map((part) => {
    const status = Number(/HTTP\/1\.1 (\d{3})/.exec(part)?.[1]);
    if (!Number.isInteger(status)) throw new Error(`Table Storage answered a transaction with a part that has no status line: ${part.slice(0, 200)}`);
    const json = /\{.*\}/.exec(part);
    if (json) throw errorOf(json[0], status, response.request, response);
    const etag = /ETag: (.*)/.exec(part)?.[1];
    const rowKey = /RowKey='(.*)'/.exec(part)?.[1];
    return { status, ...(rowKey !== undefined && { rowKey }), ...(etag !== undefined && { etag }) };
  });
  return { status: response.status, subResponses, getResponseForEntity: (rowKey) => subResponses.find((r) => r.rowKey === rowKey) };
}

/** Sends the actions as one transaction through the client's pipeline (they must share a PartitionKey). */
export async function sendTransaction(client: TableClient, actions: readonly TransactionAction[], o: { allowInsecureConnection?: boolean; abortSignal?: PipelineRequest["abortSignal"] } = {}): Promise<TableTransactionResponse> {
  const partitionKey = (actions[0]?.[1] as { partitionKey?: string } | undefined)?.partitionKey;
  for (const a of actions) if (a[1].partitionKey !== partitionKey) throw new Error("All operations in a transaction must target the same partitionKey");
  const batchId = randomUUID();
  const changesetId = randomUUID();
  const [base, sas] = client.url.split("?", 2) as [string, string | undefined];
  const request = createPipelineRequest({
    url: `${base.endsWith("/") ? base : `${base}/`}$batch${sas ? `?${sas}` : ""}`,
    method: "POST",
    body: transactionBody(base, client.tableName, actions, batchId, changesetId),
    headers: createHttpHeaders({
      accept: "application/json",
      "x-ms-version": "2019-02-02",
      DataServiceVersion: "3.0;",
      MaxDataServiceVersion: "3.0;NetFx",
      "Content-Type": `multipart/mixed; boundary=batch_${batchId}`,
      "Accept-Charset": "UTF-8",
      Connection: "Keep-Alive",
    }),
    allowInsecureConnection: o.allowInsecureConnection ?? false,
    abortSignal: o.abortSignal,
  });
  const response = await client.pipeline.sendRequest((httpClient ??= createDefaultHttpClient()), request);
  return parseTransactionAnswer(response);
}

/**
 * Makes the client's `submitTransaction` use sendTransaction for plain entities (every caller keeps calling the
 * client's method; other entities take the SDK's path).
 */
export function useOwnTransactions(client: TableClient, o: { allowInsecureConnection?: boolean } = {}): TableClient {
  const sdk = client.submitTransaction.bind(client);
  client.submitTransaction = (actions, options = {}) => {
    const { abortSignal, ...rest } = options;
    return Object.keys(rest).length === 0 && plainTransaction(actions) ? sendTransaction(client, actions, { ...o, abortSignal }) : sdk(actions, options);
  };
  return client;
}
