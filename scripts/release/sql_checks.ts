/**
 * Stagecoach's own SQL checks, for what squawk does not report. Pure: SQL text in, findings out.
 *
 * - {@link findDestructiveStatements}: in a migration, `DROP SCHEMA … CASCADE`, `DELETE` or
 *   `UPDATE` without `WHERE`, and `TRUNCATE`.
 * - {@link findDataLossStatements}: in a revert script (`supabase/rollbacks/`), every statement
 *   that may lose data: `DROP TABLE`, `ALTER TABLE … DROP [COLUMN]`, `ALTER TABLE … ALTER [COLUMN]
 *   … TYPE`, `DROP SCHEMA … CASCADE`, `DROP TYPE|DOMAIN … CASCADE`, `TRUNCATE`, `DELETE`.
 * - {@link lineComments}: the file's own `--` comments (to read markers such as
 *   `-- stagecoach: loses-data`), never text inside a string or a function body.
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

/** What a revert script may do that loses data, and what each means. */
export const DATA_LOSS_RULES = {
  "drop-table": "DROP TABLE removes the table and its rows",
  "drop-column": "ALTER TABLE … DROP COLUMN removes the column's values",
  "alter-column-type": "ALTER COLUMN … TYPE may narrow the column (values cut, rounded or " +
    "refused)",
  "drop-schema": "DROP SCHEMA … CASCADE removes every object in the schema, tables included",
  "drop-type-cascade": "DROP TYPE|DOMAIN … CASCADE drops every column of that type",
  "truncate": "TRUNCATE removes every row of the table",
  "delete": "DELETE removes rows",
} as const;

/** One of {@link DATA_LOSS_RULES}. */
export type DataLossRule = keyof typeof DATA_LOSS_RULES;

/** A finding in one SQL text: the rule, the 1-based line of the statement, a message. */
export interface SqlFinding<R extends string = StagecoachRule> {
  rule: R;
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

/**
 * Splits `src[from, to)` into tokens; white space is dropped, and comments too unless
 * `comments` is given (line comments are then pushed there, whole, from `--`).
 */
function lex(src: string, from: number, to: number, comments?: Token[]): Token[] {
  const tokens: Token[] = [];
  let i = from;
  while (i < to) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (src.startsWith("--", i)) {
      const nl = src.indexOf("\n", i);
      const end = nl < 0 || nl > to ? to : nl;
      comments?.push({ kind: "other", text: src.slice(i, end), start: i, end });
      i = end;
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
      tokens.push({ kind: "other", text: c, start: i, end: i + 1 });
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

interface Scan<R extends string> {
  src: string;
  lineOf: (offset: number) => number;
  /** What each rule means: the message's first part. */
  rules: Record<R, string>;
  findings: SqlFinding<R>[];
}

/** Looks at the statement beginning at `stmt[k]` (a word) and reports what it finds. */
type Visitor<R extends string> = (scan: Scan<R>, stmt: Token[], k: number) => void;

function snippet(src: string, from: Token, to: Token): string {
  const text = src.slice(from.start, to.end).replace(/\s+/g, " ").trim();
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function report<R extends string>(
  scan: Scan<R>,
  rule: R,
  stmt: Token[],
  k: number,
  end: number,
): void {
  scan.findings.push({
    rule,
    line: scan.lineOf(stmt[k].start),
    message: `${scan.rules[rule]}: ${snippet(scan.src, stmt[k], stmt[end - 1])}`,
  });
}

/** Visits where statements begin in one statement, and in the body of a `DO` block in it. */
function checkStatement<R extends string>(scan: Scan<R>, stmt: Token[], visit: Visitor<R>): void {
  if (isWord(stmt[0], "do")) {
    const body = stmt.find((t) => t.kind === "dollar" || t.kind === "string");
    if (body?.body) scanTokens(scan, lex(scan.src, body.body[0], body.body[1]), visit);
    return;
  }
  for (let k = 0; k < stmt.length; k++) {
    if (stmt[k].kind === "word" && beginsStatement(stmt, k)) visit(scan, stmt, k);
  }
}

function scanTokens<R extends string>(scan: Scan<R>, tokens: Token[], visit: Visitor<R>): void {
  for (const stmt of statements(tokens)) checkStatement(scan, stmt, visit);
}

/** {@link findDestructiveStatements}'s look at one statement. */
function visitDestructive(scan: Scan<StagecoachRule>, stmt: Token[], k: number): void {
  const t = stmt[k];
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

function scanText<R extends string>(
  sql: string,
  rules: Record<R, string>,
  visit: Visitor<R>,
): SqlFinding<R>[] {
  const scan: Scan<R> = { src: sql, lineOf: lineIndex(sql), rules, findings: [] };
  scanTokens(scan, lex(sql, 0, sql.length), visit);
  return scan.findings;
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
  return scanText(sql, STAGECOACH_RULES, visitDestructive);
}

/** After `stmt[j]`, the index past a possibly qualified name (`a`, `"A".b`, `a.b.c`). */
function skipName(stmt: Token[], j: number): number {
  let i = j;
  while (stmt[i]?.kind === "word" || stmt[i]?.kind === "quoted") {
    i++;
    if (stmt[i]?.kind === "other" && stmt[i].text === ".") i++;
    else break;
  }
  return i;
}

/**
 * The actions of `ALTER [FOREIGN] TABLE [IF EXISTS] [ONLY] name [*] action, …` beginning at
 * `stmt[k]`: for each, the index of its first token and the index after its last.
 */
function alterTableActions(stmt: Token[], k: number): [number, number][] {
  let j = k + (isWord(stmt[k + 1], "foreign") ? 3 : 2);
  if (isWord(stmt[j], "if") && isWord(stmt[j + 1], "exists")) j += 2;
  if (isWord(stmt[j], "only")) j++;
  j = skipName(stmt, j);
  if (stmt[j]?.kind === "other" && stmt[j].text === "*") j++;
  const { end } = scanLevel(stmt, k, []);
  const actions: [number, number][] = [];
  let depth = 0;
  let from = j;
  for (let i = j; i < end; i++) {
    const t = stmt[i];
    if (t.kind === "punct" && t.text === "(") depth++;
    else if (t.kind === "punct" && t.text === ")") depth--;
    else if (depth === 0 && t.kind === "punct" && t.text === ",") {
      actions.push([from, i]);
      from = i + 1;
    }
  }
  if (from < end) actions.push([from, end]);
  return actions;
}

/** Whether `ALTER [COLUMN] name …` from `stmt[a]` changes the column's type. */
function altersType(stmt: Token[], a: number): boolean {
  const name = a + (isWord(stmt[a + 1], "column") ? 2 : 1);
  const next = name + 1;
  return isWord(stmt[next], "type") ||
    (isWord(stmt[next], "set") && isWord(stmt[next + 1], "data") && isWord(stmt[next + 2], "type"));
}

/** {@link findDataLossStatements}'s look at one statement. */
function visitDataLoss(scan: Scan<DataLossRule>, stmt: Token[], k: number): void {
  const t = stmt[k];
  const next = stmt[k + 1];
  const end = () => scanLevel(stmt, k, []).end;
  if (t.text === "delete" && isWord(next, "from")) report(scan, "delete", stmt, k, end());
  else if (t.text === "truncate") report(scan, "truncate", stmt, k, end());
  else if (t.text === "drop" && isWord(next, "table")) report(scan, "drop-table", stmt, k, end());
  else if (t.text === "drop" && isWord(next, "schema")) {
    // Without CASCADE (RESTRICT is the default) Postgres refuses to drop a schema that still
    // holds anything, so the statement cannot lose data.
    const level = scanLevel(stmt, k, ["cascade"]);
    if (level.found) report(scan, "drop-schema", stmt, k, level.end);
  } else if (t.text === "drop" && isWord(next, "type", "domain")) {
    const level = scanLevel(stmt, k, ["cascade"]);
    if (level.found) report(scan, "drop-type-cascade", stmt, k, level.end);
  } else if (
    t.text === "alter" &&
    (isWord(next, "table") || (isWord(next, "foreign") && isWord(stmt[k + 2], "table")))
  ) {
    for (const [a, b] of alterTableActions(stmt, k)) {
      if (isWord(stmt[a], "drop") && !isWord(stmt[a + 1], "constraint")) {
        report(scan, "drop-column", stmt, k, b);
      } else if (isWord(stmt[a], "alter") && altersType(stmt, a)) {
        report(scan, "alter-column-type", stmt, k, b);
      }
    }
  }
}

/**
 * Finds the statements of a revert script that may lose data: `DROP TABLE`, `ALTER TABLE …
 * DROP [COLUMN]`, `ALTER TABLE … ALTER [COLUMN] … [SET DATA] TYPE` (a possible narrowing),
 * `DROP SCHEMA … CASCADE`, `DROP TYPE|DOMAIN … CASCADE` (drops the columns of that type), `TRUNCATE`
 * and `DELETE` (with or without `WHERE`). Comments, strings and function bodies are not
 * statements; `DO` blocks are scanned. `DROP CONSTRAINT`, `DROP DEFAULT` and `DROP NOT NULL`
 * lose nothing.
 *
 * @param sql the text of one revert script
 * @returns findings in order, each with the 1-based line where its statement begins
 * @example
 * ```ts
 * findDataLossStatements("alter table ops.t drop column if exists note;");
 * // [{ rule: "drop-column", line: 1, message: "ALTER TABLE … DROP COLUMN removes the column's
 * //    values: alter table ops.t drop column if exists note" }]
 * ```
 */
export function findDataLossStatements(sql: string): SqlFinding<DataLossRule>[] {
  return scanText(sql, DATA_LOSS_RULES, visitDataLoss);
}

/**
 * The `--` comments of a SQL text that are the file's own: not inside a string, a quoted
 * identifier, a dollar-quoted body or a block comment.
 *
 * @param sql a SQL text
 * @returns each comment's 1-based line and its text after `--`, trimmed
 * @example
 * ```ts
 * lineComments("select '-- no';\ndrop table t; -- stagecoach: loses-data old rows");
 * // [{ line: 2, text: "stagecoach: loses-data old rows" }]
 * ```
 */
export function lineComments(sql: string): { line: number; text: string }[] {
  const comments: Token[] = [];
  lex(sql, 0, sql.length, comments);
  const lineOf = lineIndex(sql);
  return comments.map((c) => ({ line: lineOf(c.start), text: c.text.slice(2).trim() }));
}
