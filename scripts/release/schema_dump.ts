/**
 * A schema as text that compares equal when two databases have the same schema: the output of
 * `pg_dump --schema-only`, normalised. Pure: dump text in, blocks and differences out.
 *
 * pg_dump writes one block per object, each after a header comment (`-- Name: t; Type: TABLE;
 * Schema: ops; Owner: postgres`). Normalising keeps each block's statements in their order
 * (so a column's position still counts) and drops what says nothing about the schema:
 * comment lines, `SET` and `set_config` lines, blank lines and the `\restrict` /
 * `\unrestrict` lines (a random key per dump). Blocks are then sorted by their header, since
 * pg_dump orders objects partly by dependency and OID, which differ between equal schemas
 * (an object dropped and created again gets a new OID); the grants of one object are sorted
 * too (an ACL revoked and granted again may list its entries in another order).
 *
 * @module
 */

/** One object of a dump: its header (without `-- `) and its normalised statement lines. */
export interface SchemaBlock {
  header: string;
  lines: string[];
}

const NOISE = [
  /^--/,
  /^SET /,
  /^SELECT pg_catalog\.set_config\(/,
  /^\\(un)?restrict\b/,
];

function byHeaderThenLines(a: SchemaBlock, b: SchemaBlock): number {
  const x = `${a.header}\n${a.lines.join("\n")}`;
  const y = `${b.header}\n${b.lines.join("\n")}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Normalises the output of `pg_dump --schema-only` into sorted blocks.
 *
 * @param dump pg_dump's plain-text output
 * @returns the blocks, sorted by header (then content); statements before the first header
 *   (none, once noise is dropped) form a block with an empty header
 * @example
 * ```ts
 * normaliseSchemaDump("--\n-- Name: t; Type: TABLE; Schema: public; Owner: postgres\n--\n\n" +
 *   "CREATE TABLE public.t (\n    id integer\n);\n");
 * // [{ header: "Name: t; Type: TABLE; Schema: public; Owner: postgres",
 * //    lines: ["CREATE TABLE public.t (", "    id integer", ");"] }]
 * ```
 */
export function normaliseSchemaDump(dump: string): SchemaBlock[] {
  const blocks: SchemaBlock[] = [{ header: "", lines: [] }];
  for (const raw of dump.split("\n")) {
    const line = raw.trimEnd();
    const header = /^-- (Name: .*)$/.exec(line);
    if (header) blocks.push({ header: header[1], lines: [] });
    else if (line.trim() && !NOISE.some((re) => re.test(line))) blocks.at(-1)!.lines.push(line);
  }
  for (const b of blocks) if (/; Type: (DEFAULT )?ACL;/.test(b.header)) b.lines.sort();
  return blocks.filter((b) => b.header || b.lines.length).sort(byHeaderThenLines);
}

/** The text of normalised blocks: each header, then its lines indented. */
export function schemaText(blocks: readonly SchemaBlock[]): string {
  return blocks.map((b) => [`-- ${b.header}`, ...b.lines.map((l) => `  ${l}`)].join("\n"))
    .join("\n");
}

/** The lines of `a` and `b` as a shortest edit: `  ` kept, `- ` only in a, `+ ` only in b. */
function lineDiff(a: readonly string[], b: readonly string[]): string[] {
  // Longest common subsequence; blocks are small (a table, a function), so O(n·m) is fine.
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(`  ${a[i++]}`);
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) out.push(`- ${a[i++]}`);
    else out.push(`+ ${b[j++]}`);
  }
  return out;
}

/**
 * The differences between two normalised schemas, unified-diff style: per differing object
 * its header, then its lines marked `-` (only before), `+` (only after) or kept (context,
 * at most `context` lines around a change).
 *
 * @param before the schema expected
 * @param after the schema found
 * @param opts.context kept lines shown around a change (default 2)
 * @returns the diff lines; empty when the schemas are equal
 * @example
 * ```ts
 * schemaDiff(normaliseSchemaDump(before), normaliseSchemaDump(after));
 * // ["@@ Name: t; Type: TABLE; Schema: public; Owner: postgres",
 * //  "    id integer,", "+   note text", "  );"]
 * ```
 */
export function schemaDiff(
  before: readonly SchemaBlock[],
  after: readonly SchemaBlock[],
  opts: { context?: number } = {},
): string[] {
  const context = opts.context ?? 2;
  const group = (blocks: readonly SchemaBlock[]) => {
    const map = new Map<string, string[]>();
    for (const b of blocks) {
      const lines = map.get(b.header) ?? [];
      if (lines.length) lines.push("");
      map.set(b.header, [...lines, ...b.lines]);
    }
    return map;
  };
  const a = group(before);
  const b = group(after);
  const headers = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: string[] = [];
  for (const h of headers) {
    const x = a.get(h);
    const y = b.get(h);
    if (x && y && x.join("\n") === y.join("\n")) continue;
    if (!y) out.push(`--- only before: ${h}`, ...x!.map((l) => `- ${l}`));
    else if (!x) out.push(`+++ only after: ${h}`, ...y.map((l) => `+ ${l}`));
    else {
      const d = lineDiff(x, y);
      const near = (i: number) =>
        d.slice(Math.max(0, i - context), i + context + 1).some((l) => !l.startsWith("  "));
      out.push(`@@ ${h}`, ...d.filter((_, i) => near(i)));
    }
  }
  return out;
}
