/**
 * Entity queries (`TableClient.listEntities`) answered by our own code for plain entities, sent through the
 * TableClient's own pipeline (its credential policy, retries, request counters): the same request on the wire as
 * @azure/data-tables sends, the same entities and pages, for a fraction of its CPU.
 *
 * Why not the SDK's: every page it lists goes through core-client's generic deserializer (the response's mapper, a
 * dictionary per entity, each value mapped on its own), then the SDK's own per-property pass (a template string and a
 * lookup per property to find type annotations), each making a new object. A full read of 10,000 users lists the
 * tenant's platform directory twice (the snapshot read and the index repair, ~40,000 rows); measured in
 * `npm run bench -- full-read`, that was ~9 % of our busy CPU (bench/README.md, "What was changed after measuring").
 * Here the pipeline's own JSON parse is the only parse, and an entity is one pass renaming the four service
 * properties.
 *
 * Anything outside the plain case takes the SDK's path: options other than a query's filter, select and top
 * (`disableTypeConversion`, an abort signal, request options, a continuation token), and any page holding a typed
 * value (an `@odata.type` annotation: Int64, DateTime, Binary, Guid…), which is read again through the SDK so its
 * values get the SDK's types.
 */
import type { ListTableEntitiesOptions, TableClient, TableEntityResult, TableEntityResultPage } from "@azure/data-tables";
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, RestError, type HttpClient, type PipelineResponse } from "@azure/core-rest-pipeline";

let httpClient: HttpClient | undefined;

/** The service's names of the properties the SDK renames (and back). */
const RENAMED: Record<string, string> = { PartitionKey: "partitionKey", RowKey: "rowKey", "odata.etag": "etag", Timestamp: "timestamp" };
const SERVICE_NAME: Record<string, string> = { partitionKey: "PartitionKey", rowKey: "RowKey", timestamp: "Timestamp" };

/** A query as the SDK passes it on (`top` is set by `byPage`). */
type QueryOptions = NonNullable<ListTableEntitiesOptions["queryOptions"]> & { top?: number | undefined };
type Page<T extends object> = TableEntityResultPage<T>;

/** True when our code answers the query exactly as the SDK would (only filter, select and top asked). */
export function plainQuery(options: ListTableEntitiesOptions): boolean {
  for (const k in options) if (k !== "queryOptions" && (options as Record<string, unknown>)[k] !== undefined) return false;
  const q = options.queryOptions ?? {};
  for (const k in q) if (k !== "filter" && k !== "select" && k !== "top" && (q as Record<string, unknown>)[k] !== undefined) return false;
  return true;
}

/** The query string of a page, as the SDK's generated operation builds it (same parameters, order and encoding). */
function queryString(q: QueryOptions, next: { nextPartitionKey?: string; nextRowKey?: string } | undefined): string[] {
  const out: string[] = [];
  if (q.top !== undefined && q.top !== null) out.push(`$top=${encodeURIComponent(String(q.top))}`);
  if (q.select) {
    const select = q.select.filter((p) => p !== "etag" && p !== "odata.etag").map((p) => SERVICE_NAME[p] ?? p);
    out.push(`$select=${encodeURIComponent(select.join(","))}`);
  }
  if (q.filter !== undefined && q.filter !== null) out.push(`$filter=${encodeURIComponent(q.filter)}`);
  if (next?.nextPartitionKey) out.push(`NextPartitionKey=${encodeURIComponent(next.nextPartitionKey)}`);
  if (next?.nextRowKey) out.push(`NextRowKey=${encodeURIComponent(next.nextRowKey)}`);
  return out;
}

/** The SDK's continuation token: base64 of `{"nextPartitionKey":…,"nextRowKey":…}` (the service's two headers). */
export function encodeContinuation(nextPartitionKey: string | undefined, nextRowKey: string | undefined): string | undefined {
  if (!nextPartitionKey) return undefined;
  return Buffer.from(JSON.stringify({ nextPartitionKey, ...(nextRowKey && { nextRowKey }) })).toString("base64");
}

function decodeContinuation(token: string): { nextPartitionKey?: string; nextRowKey?: string } {
  return JSON.parse(Buffer.from(token, "base64").toString("latin1")) as { nextPartitionKey?: string; nextRowKey?: string };
}

/** A RestError from a failed query's answer, as the SDK raises it: the answer's text as the message, no code. */
function errorOf(response: PipelineResponse): RestError {
  return new RestError(response.bodyAsText ?? "", { statusCode: response.status, request: response.request, response });
}

/** One entity as the SDK gives it: the service's four properties renamed, every other property as it came. */
function entityOf<T extends object>(raw: Record<string, unknown>): TableEntityResult<T> {
  const e: Record<string, unknown> = {};
  for (const k in raw) e[RENAMED[k] ?? k] = raw[k];
  return e as TableEntityResult<T>;
}


/** One page of the query: through the client's pipeline, then parsed by the pipeline (JSON) and renamed here. */
async function readPage<T extends object>(client: TableClient, sdkList: TableClient["listEntities"], options: ListTableEntitiesOptions, q: QueryOptions, token: string | undefined, o: { allowInsecureConnection: boolean }): Promise<Page<T>> {
  const [base, sas] = client.url.split("?", 2) as [string, string | undefined];
  const url = new URL(`${base.endsWith("/") ? base : `${base}/`}${encodeURIComponent(client.tableName)}()`);
  url.search = `?${[...(sas ? sas.split("&") : []), ...queryString(q, token ? decodeContinuation(token) : undefined)].join("&")}`;
  const request = createPipelineRequest({
    url: url.toString(),
    method: "GET",
    headers: createHttpHeaders({ accept: "application/json;odata=minimalmetadata", "x-ms-version": "2019-02-02", DataServiceVersion: "3.0" }),
    allowInsecureConnection: o.allowInsecureConnection,
  });
  const response = await client.pipeline.sendRequest((httpClient ??= createDefaultHttpClient()), request);
  if (response.status < 200 || response.status >= 300) throw errorOf(response);
  const parsed = (response as { parsedBody?: { value?: Array<Record<string, unknown>> } }).parsedBody ?? (JSON.parse(response.bodyAsText || "{}") as { value?: Array<Record<string, unknown>> });
  const value = parsed.value ?? [];
  // A typed value carries a `name@odata.type` annotation (the SDK converts those: Int64 to bigint, DateTime to Date…);
  // one scan of the text (a string value that merely reads so costs a second read, nothing else).
  if (response.bodyAsText?.includes('@odata.type"')) {
    // The SDK's types for this page: the same page read again through the SDK.
    const again = sdkList<T>({ ...options, queryOptions: q }).byPage({ ...(token && { continuationToken: token }), maxPageSize: q.top ?? undefined });
    for await (const page of again) return page;
  }
  const entities = value.map((raw) => entityOf<T>(raw));
  return Object.assign(entities, { continuationToken: encodeContinuation(response.headers.get("x-ms-continuation-NextPartitionKey"), response.headers.get("x-ms-continuation-NextRowKey")) });
}

/**
 * Makes the client's `listEntities` answer plain queries with our code (every caller keeps calling the client's
 * method; other queries take the SDK's path). Same iterator: entities one by one, or `byPage` with the SDK's
 * continuation tokens (interchangeable with the SDK's own).
 */
export function useOwnListing(client: TableClient, o: { allowInsecureConnection?: boolean } = {}): TableClient {
  const sdkList = client.listEntities.bind(client) as TableClient["listEntities"];
  const http = { allowInsecureConnection: o.allowInsecureConnection ?? false };
  client.listEntities = (<T extends object>(options: ListTableEntitiesOptions = {}) => {
    if (!plainQuery(options)) return sdkList<T>(options);
    const pages = async function* (q: QueryOptions, first: string | undefined): AsyncGenerator<Page<T>> {
      let token = first;
      do {
        const page: Page<T> = await readPage<T>(client, sdkList, options, q, token, http);
        yield page;
        token = page.continuationToken;
      } while (token);
    };
    const all = (async function* () {
      for await (const page of pages((options.queryOptions ?? {}) as QueryOptions, undefined)) yield* page;
    })();
    return {
      next: () => all.next(),
      [Symbol.asyncIterator]() {
        return this;
      },
      // As the SDK: a page size given here replaces the query's `top` (none given: no `top`).
      byPage: (settings?: { continuationToken?: string; maxPageSize?: number }) => pages({ ...options.queryOptions, top: settings?.maxPageSize }, settings?.continuationToken),
    };
  }) as TableClient["listEntities"];
  return client;
}
