/**
 * Records a set-based write reads, staged in a temporary table with `COPY … FROM STDIN`
 * instead of travelling as one JSON parameter read by `jsonb_to_recordset`: at 100,000 rows
 * Postgres took 2–3 s to parse the 35 MB parameter and walk it into records, a COPY of the
 * same rows 0.3–0.8 s (psql, same machine and load).
 *
 * A value is written as `jsonb_to_recordset` would have read it: JSON null (or a missing
 * field) is SQL NULL, a `jsonb` column gets the value's canonical JSON, any other column a
 * string as it is and anything else as its JSON text.
 *
 * Runs on the connection's own role (temporary tables need its TEMP privilege), inside the
 * caller's transaction; the table is dropped at commit.
 *
 * @module
 */
import type { Tx } from "../db.ts";
import { drained, finishCopyIn, openCopyIn } from "../users/copy_stream.ts";
import { canonicalJson, JsonNumber, type JsonValue } from "../json/lossless.ts";
import type { Row } from "./plan.ts";

/** A staged column: its name (a field of the records) and SQL type. */
export interface StagedColumn {
  name: string;
  type: string;
}

/** One value in COPY's text format (`\N` for NULL; backslash, tab and line ends escaped). */
export function copyValue(value: JsonValue | undefined, type: string): string {
  if (value === null || value === undefined) return "\\N";
  const text = type === "jsonb"
    ? canonicalJson(value)
    : typeof value === "string"
    ? value
    : value instanceof JsonNumber
    ? value.text
    : canonicalJson(value);
  return /[\\\t\n\r]/.test(text)
    ? text.replace(
      /[\\\t\n\r]/g,
      (c) => c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r",
    )
    : text;
}

/** The records as COPY text lines, one per record, columns in order. */
export function copyText(columns: readonly StagedColumn[], rows: readonly Row[]): string {
  let out = "";
  for (const row of rows) {
    out += columns.map((c) => copyValue(row[c.name], c.type)).join("\t") + "\n";
  }
  return out;
}

let staged = 0;

/** Records per COPY chunk. */
const CHUNK_ROWS = 2000;

/**
 * Copies the records into a new temporary table (dropped at commit) and returns its name,
 * to be read as a relation (`from <name> as x`).
 *
 * @throws whatever Postgres raises (a value its column type refuses)
 */
export async function stageRecords(
  tx: Tx,
  opts: { columns: readonly StagedColumn[]; rows: readonly Row[] },
): Promise<string> {
  const name = `pg_temp._sc_records_${++staged}`;
  const defs = opts.columns.map((c) => `"${c.name}" ${c.type}`).join(", ");
  await tx.unsafe(`create temporary table ${name} (${defs}) on commit drop`);
  const { writable, lateError } = await openCopyIn(
    tx,
    `copy ${name} (${opts.columns.map((c) => `"${c.name}"`).join(", ")}) from stdin`,
  );
  // Sent in chunks, waiting whenever the socket is full: the whole text at once held a second
  // copy of every record in memory (35 MB of text, twice that as a JavaScript string).
  for (let at = 0; at < opts.rows.length && !lateError(); at += CHUNK_ROWS) {
    const chunk = copyText(opts.columns, opts.rows.slice(at, at + CHUNK_ROWS));
    if (!writable.write(chunk)) await drained(writable);
  }
  await finishCopyIn(writable, tx, lateError);
  return name;
}
