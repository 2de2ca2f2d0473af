import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { z } from "zod";
import { EntraSyncError } from "../errors.js";
import { MAPPED_ATTRIBUTES, type PlatformUser } from "./types.js";

const userSchema = z
  .object({
    id: z.string().trim().min(1, "id must not be empty").max(200).regex(/^[^/\\#?\u0000-\u001f\u007f-\u009f]+$/, "id must not contain / \\ # ? or control characters"),
    ...Object.fromEntries(MAPPED_ATTRIBUTES.map((a) => [a, z.string().max(1000).optional()])),
  })
  .strict();

/**
 * The separator of a CSV file, from its header row: `;` (what Excel writes where the decimal mark is a comma, as in
 * Swedish) when the header holds more semicolons than commas, else `,`. Header cells are attribute names, which hold
 * neither, so the count cannot mislead.
 */
function csvDelimiter(text: string): string {
  const header = text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0] ?? "";
  const count = (c: string) => header.split(c).length - 1;
  return count(";") > count(",") ? ";" : ",";
}

/**
 * Reads platform users from a CSV (header row with attribute names) or JSON (an array of objects) file.
 * Validates every row before anything is written: one bad row rejects the file, naming the row and field.
 */
export async function readPlatformUsersFile(file: string, tenantId: string): Promise<PlatformUser[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new EntraSyncError("INPUT_INVALID", `Cannot read ${file}: ${(e as Error).message}.`, { field: "file", cause: e });
  }
  const ext = path.extname(file).toLowerCase();
  let rows: unknown[];
  try {
    if (ext === ".json") {
      const v = JSON.parse(text) as unknown;
      if (!Array.isArray(v)) throw new Error("the file must hold a JSON array of user objects");
      rows = v;
    } else if (ext === ".csv") {
      rows = parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true, delimiter: csvDelimiter(text) }) as Record<string, string>[];
      rows = (rows as Record<string, string>[]).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== "")));
    } else throw new Error(`unknown file type "${ext || "(none)"}": use .csv or .json`);
  } catch (e) {
    throw new EntraSyncError("INPUT_INVALID", `Cannot parse ${file}: ${(e as Error).message}.`, { field: "file", cause: e });
  }
  if (rows.length === 0)
    throw new EntraSyncError("INPUT_INVALID", `${file} holds no users: ${ext === ".json" ? "give a JSON array of user objects" : "give a header row (id, then the attributes) and one row per user"}. Nothing was imported.`, { field: "file" });
  const seen = new Set<string>();
  return rows.map((row, i) => {
    const r = userSchema.safeParse(row);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const allowed = issue.code === "unrecognized_keys" ? ` (allowed columns: id, ${MAPPED_ATTRIBUTES.join(", ")})` : "";
      throw new EntraSyncError("INPUT_INVALID", `${file}, user ${i + 1}: ${issue.path.join(".") || "row"}: ${issue.message}${allowed}. Nothing was imported.`, { field: issue.path.join(".") });
    }
    if (seen.has(r.data.id)) throw new EntraSyncError("INPUT_INVALID", `${file}, user ${i + 1}: id "${r.data.id}" appears twice. Nothing was imported.`, { field: "id" });
    seen.add(r.data.id);
    return { ...(r.data as Omit<PlatformUser, "tenantId">), tenantId };
  });
}
