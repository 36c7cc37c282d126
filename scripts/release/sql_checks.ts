/**
 * Stagecoach's own migration checks, for what squawk does not report: `DROP SCHEMA … CASCADE`,
 * `DELETE` or `UPDATE` without `WHERE`, and `TRUNCATE`. Pure: SQL text in, findings out.
 *
 * The text is read by a small lexer that knows what a statement is not: comments (`--`, nested
 * `/* *\/`), string literals (`'…'` with `''`, `E'…'` with backslash escapes), quoted
 * identifiers and dollar-quoted bodies are single tokens, so a `delete` in any of them is
 * never taken for a statement. What a migration runs is then judged this way:
 *
 * - **Function bodies are not run.** `create function … as $$ delete from t $$` only defines a
 *   function; the migration deletes nothing, so nothing is found (squawk does the same).
 * - **`DO` blocks are run**, once, by the migration: their body is scanned like the file, and
 *   a `delete from t;` inside `do $$ begin … end $$` is found on its own line. Statements a
 *   block builds as text (`execute 'delete from t'`) are strings and are not seen.
 * - A statement counts where a statement can begin: at the start, after PL/pgSQL's `begin`,
 *   `then`, `else` or `loop`, or as a CTE's body (`with gone as (delete from t returning *)`).
 *   So `grant delete on t`, `on delete cascade`, `for update` and `before truncate on t` are
 *   not statements.
 * - `WHERE` counts only at the statement's own level: the one of a subquery in `SET` does not.
 *
 * @module
 */

/** The checks of this module and what each means. */
export const STAGECOACH_RULES = {
  "drop-schema-cascade": "DROP SCHEMA … CASCADE drops every object in the schema, and every " +
    "object elsewhere that depends on one",
  "delete-without-where": "DELETE without WHERE removes every row of the table",
  "update-without-where": "UPDATE without WHERE rewrites every row of the table",
  "truncate": "TRUNCATE removes every row of the table at once (ACCESS EXCLUSIVE lock, no " +
    "row triggers)",
} as const;

/** One of {@link STAGECOACH_RULES}. */
export type StagecoachRule = keyof typeof STAGECOACH_RULES;

/** A finding in one SQL text: the rule, the 1-based line of the statement, a message. */
export interface SqlFinding {
  rule: StagecoachRule;
  line: number;
  message: string;
}

type TokenKind = "word" | "quoted" | "string" | "dollar" | "punct" | "other";

interface Token {
  kind: TokenKind;
  /** Words lower-cased; punctuation as is; empty for the rest. */
  text: string;
  start: number;
  end: number;
  /** A dollar-quoted or string body: where its content starts and ends. */
  body?: [number, number];
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;
/** Words after which a PL/pgSQL statement begins. */
const BLOCK_WORDS = new Set(["begin", "then", "else", "loop"]);

/** Ends a quoted token at its closing `quote` (doubled quotes are kept inside). */
function quotedEnd(src: string, i: number, to: number, quote: string, backslash: boolean): number {
  let j = i + 1;
  while (j < to) {
    const c = src[j];
    if (backslash && c === "\\") j += 2;
    else if (c === quote && src[j + 1] === quote) j += 2;
    else if (c === quote) return j + 1;
    else j++;
  }
  return to;
}

/** Ends a block comment, which Postgres lets nest. */
function blockCommentEnd(src: string, i: number, to: number): number {
  let depth = 0;
  let j = i;
  while (j < to) {
    if (src.startsWith("/*", j)) {
      depth++;
      j += 2;
    } else if (src.startsWith("*/", j)) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return to;
}

/** The dollar-quote tag (`$$`, `$body$`) starting at `i`, if one does (`$1` is a parameter). */
function dollarTagAt(src: string, i: number): string | null {
  DOLLAR_TAG.lastIndex = i;
  return DOLLAR_TAG.test(src) ? src.slice(i, DOLLAR_TAG.lastIndex) : null;
}

/** Splits `src[from, to)` into tokens; comments and white space are dropped. */
function lex(src: string, from: number, to: number): Token[] {
  const tokens: Token[] = [];
  let i = from;
  while (i < to) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (src.startsWith("--", i)) {
      const nl = src.indexOf("\n", i);
      i = nl < 0 || nl > to ? to : nl + 1;
    } else if (src.startsWith("/*", i)) {
      i = blockCommentEnd(src, i, to);
    } else if (c === "'") {
      const prev = tokens.at(-1);
      const escaped = prev?.kind === "word" && prev.end === i && prev.text === "e";
      const end = quotedEnd(src, i, to, "'", escaped);
      tokens.push({ kind: "string", text: "", start: i, end, body: [i + 1, end - 1] });
      i = end;
    } else if (c === '"') {
      const end = quotedEnd(src, i, to, '"', false);
      tokens.push({ kind: "quoted", text: "", start: i, end });
      i = end;
    } else if (c === "$" && dollarTagAt(src, i)) {
      const tag = dollarTagAt(src, i) as string;
      const close = src.indexOf(tag, i + tag.length);
      const end = close < 0 || close + tag.length > to ? to : close + tag.length;
      const bodyEnd = close < 0 || close + tag.length > to ? to : close;
      tokens.push({ kind: "dollar", text: "", start: i, end, body: [i + tag.length, bodyEnd] });
      i = end;
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < to && WORD_PART.test(src[j])) j++;
      tokens.push({ kind: "word", text: src.slice(i, j).toLowerCase(), start: i, end: j });
      i = j;
    } else if ("();,".includes(c)) {
      tokens.push({ kind: "punct", text: c, start: i, end: i + 1 });
      i++;
    } else {
      tokens.push({ kind: "other", text: "", start: i, end: i + 1 });
      i++;
    }
  }
  return tokens;
}

/** Statements: the tokens between semicolons. */
function statements(tokens: Token[]): Token[][] {
  const out: Token[][] = [[]];
  for (const t of tokens) {
    if (t.kind === "punct" && t.text === ";") out.push([]);
    else out[out.length - 1].push(t);
  }
  return out.filter((s) => s.length > 0);
}

const isWord = (t: Token | undefined, ...words: string[]) =>
  t?.kind === "word" && words.includes(t.text);

/** Whether a statement can begin at `stmt[k]` (see the module comment). */
function beginsStatement(stmt: Token[], k: number): boolean {
  if (k === 0) return true;
  const prev = stmt[k - 1];
  if (prev.kind === "word") return BLOCK_WORDS.has(prev.text);
  return prev.kind === "punct" && prev.text === "(" && isWord(stmt[k - 2], "as", "materialized");
}

/**
 * From `stmt[k]` to the end of that statement's level (its `;`, or the `)` closing a CTE):
 * the index after its last token, and whether one of `words` occurs at its own level.
 */
function scanLevel(stmt: Token[], k: number, words: string[]): { end: number; found: boolean } {
  let depth = 0;
  let found = false;
  let j = k + 1;
  for (; j < stmt.length; j++) {
    const t = stmt[j];
    if (t.kind === "punct" && t.text === "(") depth++;
    else if (t.kind === "punct" && t.text === ")") {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && isWord(t, ...words)) found = true;
  }
  return { end: j, found };
}

interface Scan {
  src: string;
  lineOf: (offset: number) => number;
  findings: SqlFinding[];
}

function snippet(src: string, from: Token, to: Token): string {
  const text = src.slice(from.start, to.end).replace(/\s+/g, " ").trim();
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function report(scan: Scan, rule: StagecoachRule, stmt: Token[], k: number, end: number): void {
  scan.findings.push({
    rule,
    line: scan.lineOf(stmt[k].start),
    message: `${STAGECOACH_RULES[rule]}: ${snippet(scan.src, stmt[k], stmt[end - 1])}`,
  });
}

/** Checks one statement, and the body of a `DO` block inside it. */
function checkStatement(scan: Scan, stmt: Token[]): void {
  if (isWord(stmt[0], "do")) {
    const body = stmt.find((t) => t.kind === "dollar" || t.kind === "string");
    if (body?.body) scanTokens(scan, lex(scan.src, body.body[0], body.body[1]));
    return;
  }
  for (let k = 0; k < stmt.length; k++) {
    const t = stmt[k];
    if (t.kind !== "word" || !beginsStatement(stmt, k)) continue;
    if (t.text === "delete" && isWord(stmt[k + 1], "from")) {
      const { end, found } = scanLevel(stmt, k, ["where"]);
      if (!found) report(scan, "delete-without-where", stmt, k, end);
    } else if (t.text === "update" && scanLevel(stmt, k, ["set"]).found) {
      const { end, found } = scanLevel(stmt, k, ["where"]);
      if (!found) report(scan, "update-without-where", stmt, k, end);
    } else if (t.text === "truncate") {
      report(scan, "truncate", stmt, k, scanLevel(stmt, k, []).end);
    } else if (t.text === "drop" && isWord(stmt[k + 1], "schema")) {
      const { end, found } = scanLevel(stmt, k, ["cascade"]);
      if (found) report(scan, "drop-schema-cascade", stmt, k, end);
    }
  }
}

function scanTokens(scan: Scan, tokens: Token[]): void {
  for (const stmt of statements(tokens)) checkStatement(scan, stmt);
}

/** A function from a character offset of `src` to its 1-based line. */
function lineIndex(src: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < src.length; i++) if (src[i] === "\n") starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/**
 * Finds the statements of a migration that destroy data or schema wholesale and that squawk
 * does not report: `DROP SCHEMA … CASCADE`, `DELETE` / `UPDATE` without `WHERE`, `TRUNCATE`.
 * Comments, strings, quoted identifiers and function bodies are not statements; `DO` blocks
 * are scanned (see the module comment).
 *
 * @param sql the text of one migration
 * @returns findings in order, each with the 1-based line where its statement begins
 * @example
 * ```ts
 * findDestructiveStatements("-- delete from t;\ndelete from t where id = 1;\ndelete from t;");
 * // [{ rule: "delete-without-where", line: 3,
 * //    message: "DELETE without WHERE removes every row of the table: delete from t" }]
 * ```
 */
export function findDestructiveStatements(sql: string): SqlFinding[] {
  const scan: Scan = { src: sql, lineOf: lineIndex(sql), findings: [] };
  scanTokens(scan, lex(sql, 0, sql.length));
  return scan.findings;
}
