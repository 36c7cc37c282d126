/**
 * Compiles the manifest's rules into the SQL the SOURCE runs, so raw personal data never
 * leaves it: `select <masked columns> from <table> …`, ready for `copy (…) to stdout`. Pure.
 *
 * Every fake is derived from H(v) = HMAC-SHA256(lower(btrim(v)), key) (pgcrypto `hmac`), the
 * key read from the session setting `stagecoach.anon_key` (set with a bind parameter, so it
 * never appears in the SQL text, `pg_stat_activity` or the server log) through
 * `users_copy.anon_key()`, which refuses an empty key. Different byte ranges of
 * H feed different outputs: bytes 0–15 a uuid, 0–7 the unique part of an email, 16–23 names,
 * 6–15 addresses, 24–31 phones, 28–29 date shifts. Hashes used more than once in a row (a seed
 * such as the user id feeding the mapped id, the names and the date shifts) are computed once,
 * in a LATERAL subquery.
 *
 * @module
 */
import type { ColumnInfo, ColumnRule, JsonLeafRule } from "./manifest.ts";
import { parseJsonPath } from "./manifest.ts";
import { ident, literal, type UserTable } from "./scope.ts";

/** `anonymized` (the default, the only mode into non-production) or `faithful` (a real move). */
export type CopyMode = "anonymized" | "faithful";

/** What the compiled SQL depends on besides the rules. */
export interface MaskOptions {
  mode: CopyMode;
  /** The target is a production-kind environment (live Stripe ids may stay). */
  targetProduction: boolean;
  /** Domain of fake emails. */
  emailDomain: string;
  /** The bcrypt hash every anonymized user gets (of the test password); null in faithful mode. */
  passwordHash: string | null;
  /** The target's tier ids by slug. */
  tierIds: Record<string, string>;
}

/** A compiled table query. */
export interface TableSelect {
  /** Target columns, in COPY order (generated columns left out). */
  columns: string[];
  /** `select … from …` (alias `t` for the table); the caller appends `where …`. */
  sql: string;
  /** Whether the query reads `stagecoach.anon_key` (it must be set first). */
  usesKey: boolean;
}

// Syllables of made-up names: pronounceable, and unlike real names often enough that a fake
// rarely equals a real person's name (which would read as a leak).
const SYLLABLES = [
  "za",
  "xo",
  "qui",
  "vel",
  "kor",
  "jin",
  "mar",
  "tes",
  "lun",
  "dra",
  "ven",
  "sol",
  "rik",
  "ta",
  "mo",
  "ne",
  "li",
  "ra",
  "bel",
  "zor",
  "ka",
  "ve",
  "ni",
  "so",
  "ul",
  "ex",
  "ay",
  "ri",
  "do",
  "fa",
  "gu",
  "hy",
];
const FAMILY_SUFFIXES = ["son", "berg", "ova", "ez", "ani", "strom", "ski", "ley"];
const STREETS = ["Street", "Road", "Lane", "Avenue", "Way"];
const CITY_SUFFIXES = ["ton", "burg", "ville", "field", "haven"];

// The key is read once per query through `users_copy.anon_key()`, which refuses an empty one
// (a session whose key was never set, or was blanked by a `--where`) instead of masking with it.
// `offset 0` keeps the planner from pulling the subquery up: `users_copy.anon_key()` is a
// stable plpgsql function with its own search_path, and inlined it ran once per hash of every
// row (about 40 % of a batch's masking time), instead of once per statement.
const KEY_SOURCE = "cross join (select users_copy.anon_key() as k offset 0) as key";

function textArray(values: string[]): string {
  return `array[${values.map(literal).join(", ")}]::text[]`;
}

/** Byte i (0–255) of hash expression h. */
const byte = (h: string, i: number) => `get_byte(${h}, ${i})`;
/** Bytes i, i+1 as 0–65535. */
const word = (h: string, i: number) => `(get_byte(${h}, ${i}) * 256 + get_byte(${h}, ${i + 1}))`;
const hex = (h: string) => `encode(${h}, 'hex')`;
const pick = (list: string[], h: string, i: number) =>
  `(${textArray(list)})[1 + ${byte(h, i)} % ${list.length}]`;

/** SQL producing a uuid from the first 16 bytes of hash h (any 128 bits are a valid uuid). */
export function uuidFromHash(h: string): string {
  return `encode(substring(${h} from 1 for 16), 'hex')::uuid`;
}

function firstName(h: string): string {
  return `initcap(${pick(SYLLABLES, h, 16)} || ${pick(SYLLABLES, h, 17)} || (case when ${
    byte(h, 18)
  } % 2 = 0 then ${pick(SYLLABLES, h, 19)} else '' end))`;
}

function lastName(h: string): string {
  return `(initcap(${pick(SYLLABLES, h, 20)} || ${pick(SYLLABLES, h, 21)}) || ${
    pick(FAMILY_SUFFIXES, h, 22)
  })`;
}

/** The SQL expression of a text fake (or hash) from hash h. */
function fakeText(rule: JsonLeafRule, h: string, emailDomain: string): string {
  switch (rule.rule) {
    case "fake_email":
      return `(lower(${firstName(h)}) || '.' || substr(${hex(h)}, 1, 16) || '@' || ${
        literal(rule.domain ?? emailDomain)
      })`;
    case "fake_name":
      if (rule.part === "first") return firstName(h);
      if (rule.part === "last") return lastName(h);
      return `(${firstName(h)} || ' ' || ${lastName(h)})`;
    case "fake_phone":
      return `('+99' || lpad(((('x' || substr(${
        hex(h)
      }, 49, 12))::bit(48)::bigint) % 10000000000000)::text, 13, '0'))`;
    case "fake_address":
      if (rule.part === "street") {
        return `((1 + ${word(h, 8)} % 999)::text || ' ' || initcap(${pick(SYLLABLES, h, 10)} || ${
          pick(SYLLABLES, h, 11)
        }) || ' ' || ${pick(STREETS, h, 12)})`;
      }
      if (rule.part === "city") {
        return `(initcap(${pick(SYLLABLES, h, 13)} || ${pick(SYLLABLES, h, 14)}) || ${
          pick(CITY_SUFFIXES, h, 15)
        })`;
      }
      return `lpad((${word(h, 6)} % 100000)::text, 5, '0')`;
    case "hash":
      return `(${literal(rule.prefix)} || substr(${hex(h)}, 1, ${rule.length}))`;
    case "uuid":
      return `${uuidFromHash(h)}::text`;
    default:
      throw new Error(`Cannot compile rule ${rule.rule} as text`);
  }
}

/** Collects what a table query needs around its select list. */
interface Scope {
  hashes: Map<string, string>;
  joins: string[];
  usesKey: boolean;
  /** Column types, so uuid columns are hashed without (needless) normalisation. */
  types: Map<string, string>;
}

/**
 * H(text expression): hoisted into the row's LATERAL subquery when `hoist` (row-level
 * expressions), inline otherwise (inside array-element subqueries).
 */
function hashOf(scope: Scope, textExpr: string, hoist: boolean, raw = false): string {
  scope.usesKey = true;
  const input = raw ? textExpr : `lower(btrim(${textExpr}))`;
  const expr = `extensions.hmac(${input}, key.k, 'sha256')`;
  if (!hoist) return expr;
  let alias = scope.hashes.get(expr);
  if (!alias) {
    alias = `h.h${scope.hashes.size}`;
    scope.hashes.set(expr, alias);
  }
  return alias;
}

/** H of a column of the row: a uuid's text is already normalised (lower case, no spaces). */
function columnHash(scope: Scope, column: string): string {
  return hashOf(scope, `t.${ident(column)}::text`, true, scope.types.get(column) === "uuid");
}

function seedHash(scope: Scope, seed: string | undefined, valueText: string, hoist: boolean) {
  return seed ? columnHash(scope, seed) : hashOf(scope, valueText, hoist);
}

/** A text fake that leaves null and blank values as they are. */
function guardedText(valueText: string, fake: string): string {
  return `case when nullif(btrim(${valueText}), '') is null then ${valueText} else ${fake} end`;
}

// ---------------------------------------------------------------------------------------------
// JSONB

interface JsonNode {
  rule?: JsonLeafRule;
  fields: Map<string, JsonNode>;
  items?: JsonNode;
}

function emptyNode(): JsonNode {
  return { fields: new Map() };
}

/** Builds the tree of a JSONB rule's paths. @throws {Error} on conflicting paths */
function jsonTree(paths: Record<string, JsonLeafRule>, where: string): JsonNode {
  const root = emptyNode();
  for (const [path, rule] of Object.entries(paths)) {
    let node = root;
    for (const seg of parseJsonPath(path)) {
      if (node.rule) {
        throw new Error(`Cannot compile ${where}: "${path}" is below a path with a rule`);
      }
      let child = node.fields.get(seg.key);
      if (!child) node.fields.set(seg.key, child = emptyNode());
      node = child;
      if (seg.each) {
        if (node.rule) {
          throw new Error(`Cannot compile ${where}: "${path}" is below a path with a rule`);
        }
        node.items ??= emptyNode();
        node = node.items;
      }
    }
    if (node.rule || node.fields.size || node.items) {
      throw new Error(`Cannot compile ${where}: "${path}" has a rule and rules below it`);
    }
    node.rule = rule;
  }
  return root;
}

function jsonLeaf(
  scope: Scope,
  rule: JsonLeafRule,
  e: string,
  opts: MaskOptions,
  hoist: boolean,
): string {
  switch (rule.rule) {
    case "keep":
      return e;
    case "null":
    case "drop":
      return `'null'::jsonb`;
    case "constant":
      return `${literal(JSON.stringify(rule.value))}::jsonb`;
    default: {
      const text = `(${e} #>> '{}')`;
      const h = seedHash(scope, "seed" in rule ? rule.seed : undefined, text, hoist);
      return `case when jsonb_typeof(${e}) not in ('string', 'number') or nullif(btrim(${text}), '') is null then ${e} else to_jsonb(${
        fakeText(rule, h, opts.emailDomain)
      }) end`;
    }
  }
}

function jsonNode(
  scope: Scope,
  node: JsonNode,
  e: string,
  unlisted: "drop" | "keep",
  opts: MaskOptions,
  depth: number,
  hoist: boolean,
): string {
  if (node.rule) return jsonLeaf(scope, node.rule, e, opts, hoist);
  const fallback = unlisted === "keep" ? e : `'null'::jsonb`;
  if (node.items) {
    const x = `x${depth}`;
    const inner = jsonNode(scope, node.items, `${x}.v`, unlisted, opts, depth + 1, false);
    return `case when jsonb_typeof(${e}) = 'array' then coalesce((select jsonb_agg(${inner} order by ${x}.i) from jsonb_array_elements(${e}) with ordinality as ${x}(v, i)), '[]'::jsonb) else ${fallback} end`;
  }
  const listed = [...node.fields.keys()];
  const kept = [...node.fields].filter(([, child]) => child.rule?.rule !== "drop");
  const base = unlisted === "keep" ? (listed.length ? `(${e} - ${textArray(listed)})` : e) : null;
  let built: string;
  if (!kept.length) built = base ?? `'{}'::jsonb`;
  else {
    // One object of every listed key, minus the keys the document did not have.
    const pairs = kept.map(([key, child]) =>
      `${literal(key)}, ${
        jsonNode(scope, child, `(${e} -> ${literal(key)})`, unlisted, opts, depth, hoist)
      }`
    );
    const absent = kept.map(([key]) =>
      `case when ${e} ? ${literal(key)} then null else ${literal(key)} end`
    );
    const obj = `(jsonb_build_object(${pairs.join(", ")}) - array[${absent.join(", ")}]::text[])`;
    built = base ? `${base} || ${obj}` : obj;
  }
  return `case when jsonb_typeof(${e}) = 'object' then ${built} else ${fallback} end`;
}

// ---------------------------------------------------------------------------------------------
// Columns

function columnExpr(
  scope: Scope,
  table: UserTable,
  column: ColumnInfo,
  rule: ColumnRule,
  opts: MaskOptions,
): string {
  const v = `t.${ident(column.name)}`;
  const vt = `${v}::text`;
  const where = `${table.name}.${column.name}`;
  if (rule.rule === "tier_by_slug") {
    scope.joins.push(
      `left join public.membership_tiers as src_tier on src_tier.id = ${v}`,
    );
    const cases = Object.entries(opts.tierIds)
      .map(([slug, id]) => `when ${literal(slug)} then ${literal(id)}::uuid`)
      .join(" ");
    return cases ? `case src_tier.slug ${cases} end` : "null::uuid";
  }
  if (opts.mode === "faithful") return v;
  switch (rule.rule) {
    case "keep":
      return v;
    case "null":
      return "null";
    case "constant":
      return rule.value === null
        ? "null"
        : typeof rule.value === "string"
        ? literal(rule.value)
        : String(rule.value);
    case "password":
      if (!opts.passwordHash) throw new Error(`Cannot compile ${where}: no test password hash`);
      return `case when ${v} is null then null else ${literal(opts.passwordHash)} end`;
    case "stripe_id": {
      if (opts.targetProduction) return v;
      if (rule.otherwise === "null") return "null";
      const h = hashOf(scope, vt, true);
      return `case when ${v} is null then null else ${literal(`${rule.prefix}_anon`)} || substr(${
        hex(h)
      }, 1, 24) end`;
    }
    case "uuid": {
      const h = columnHash(scope, column.name);
      return column.type === "uuid" ? uuidFromHash(h) : `${uuidFromHash(h)}::text`;
    }
    case "date_shift": {
      const h = seedHash(scope, rule.seed, vt, true);
      const days = `((${word(h, 28)} % ${2 * rule.days + 1}) - ${rule.days})`;
      return column.type === "date"
        ? `(${v} + ${days})`
        : `(${v} + make_interval(days => ${days}))`;
    }
    case "generalize":
      return `date_trunc(${literal(rule.to)}, ${v})::${column.type}`;
    case "jsonb": {
      const tree = jsonTree(rule.paths, where);
      return `case when ${v} is null then null else ${
        jsonNode(scope, tree, v, rule.unlisted, opts, 0, true)
      } end`;
    }
    default: {
      const h = seedHash(scope, "seed" in rule ? rule.seed : undefined, vt, true);
      return guardedText(vt, fakeText(rule, h, opts.emailDomain));
    }
  }
}

/**
 * Compiles the source query of one table: every non-generated column of the source, masked
 * by its rule (or as is in faithful mode, except tiers re-pointed by slug).
 *
 * @param table the table
 * @param opts.rules its rules (coverage already checked)
 * @param opts.columns its source columns, in order
 * @param opts.mask mode, target facts, test password hash
 * @param opts.extra more select-list expressions (on `t`), after the columns (dry-run samples)
 * @returns the query and its column list
 * @throws {Error} when a column has no rule (call `checkCoverage` first)
 * @example
 * ```ts
 * const q = buildTableSelect(USER_TABLES[0], { rules: manifest.tables["auth.users"], columns, mask });
 * `copy (${q.sql} where t.id > '…') to stdout`;
 * ```
 */
export function buildTableSelect(
  table: UserTable,
  opts: {
    rules: Record<string, ColumnRule>;
    columns: ColumnInfo[];
    mask: MaskOptions;
    extra?: string[];
  },
): TableSelect {
  const { rules, columns, mask, extra } = opts;
  const scope: Scope = {
    hashes: new Map(),
    joins: [],
    usesKey: false,
    types: new Map(columns.map((c) => [c.name, c.type])),
  };
  const copied = columns.filter((c) => !c.generated);
  const exprs = copied.map((c) => {
    const rule = rules[c.name];
    if (!rule) throw new Error(`Cannot compile ${table.name}: ${c.name} has no rule`);
    return `${columnExpr(scope, table, c, rule, mask)} as ${ident(c.name)}`;
  });
  const from = [`${ident(table.name)} as t`, ...scope.joins];
  if (scope.usesKey) from.push(KEY_SOURCE);
  if (scope.hashes.size) {
    const hashes = [...scope.hashes].map(([expr, alias]) => `${expr} as ${alias.slice(2)}`);
    // `offset 0` keeps the planner from pulling the subquery up, which would compute each
    // hash again wherever it is used.
    from.push(`cross join lateral (select ${hashes.join(", ")} offset 0) as h`);
  }
  return {
    columns: copied.map((c) => c.name),
    sql: `select ${[...exprs, ...(extra ?? [])].join(",\n  ")}\nfrom ${from.join("\n")}`,
    usesKey: scope.usesKey,
  };
}

/**
 * The SQL of the mapped user id of each selected user (`auth.users.id` under its rule): the
 * set validation and the leak scan restrict the target to.
 */
export function mappedUserIdSelect(rules: Record<string, ColumnRule>, mode: CopyMode): TableSelect {
  const rule = rules["id"];
  if (mode === "faithful" || !rule || rule.rule === "keep") {
    return { columns: ["id"], sql: "select t.id from auth.users as t", usesKey: false };
  }
  if (rule.rule !== "uuid") {
    throw new Error("Cannot map user ids: auth.users.id must be keep or uuid");
  }
  return {
    columns: ["id"],
    sql: `select ${
      uuidFromHash("extensions.hmac(t.id::text, key.k, 'sha256')")
    } as id\nfrom auth.users as t\n${KEY_SOURCE}`,
    usesKey: true,
  };
}

/**
 * A jsonpath selecting the string values at a rule path (`lax $."a"[*]."b" ? (@.type() ==
 * "string")`); lax, so documents without the path simply yield nothing.
 */
function stringsAt(path: string | null): string {
  const body = path === null ? ".**" : parseJsonPath(path)
    .map((s) => `."${s.key.replaceAll('"', '\\"')}"${s.each ? "[*]" : ""}`)
    .join("");
  return literal(`lax $${body} ? (@.type() == "string")`);
}

/**
 * SQL queries (each selecting one text column `v`, from `t`; the caller appends `where …`)
 * listing the source's personal values of a table for the leak scan: personal columns' values
 * and, in personal JSONB columns, the string leaves at paths whose rule masks (every string
 * leaf when the column or its unlisted keys are kept).
 *
 * @param table the table
 * @param opts.rules its rules
 * @param opts.columns its source columns
 * @param opts.isPersonal which rules mask personal data (the manifest's `isPersonal`)
 * @example
 * ```ts
 * const selects = personalValueSelects(table, { rules, columns, isPersonal });
 * ```
 */
export function personalValueSelects(
  table: UserTable,
  opts: {
    rules: Record<string, ColumnRule>;
    columns: ColumnInfo[];
    isPersonal: (rule: ColumnRule) => boolean;
  },
): string[] {
  const { rules, columns, isPersonal } = opts;
  const out: string[] = [];
  // Scalars and simple JSON paths are unpivoted in one scan of the table; array paths and
  // "every leaf" need a set-returning scan each.
  const scalars: string[] = [];
  const from = `from ${ident(table.name)} as t`;
  for (const c of columns) {
    const rule = rules[c.name];
    if (!rule || c.generated || !isPersonal(rule)) continue;
    const v = `t.${ident(c.name)}`;
    if (c.type !== "jsonb") {
      scalars.push(`${v}::text`);
      continue;
    }
    const leaves = (path: string | null) =>
      `select x #>> '{}' as v ${from} cross join lateral jsonb_path_query(${v}, ${
        stringsAt(path)
      }) as x`;
    if (rule.rule !== "jsonb" || rule.unlisted === "keep") {
      out.push(leaves(null));
      continue;
    }
    for (const [path, leaf] of Object.entries(rule.paths)) {
      if (["keep", "drop", "null", "constant"].includes(leaf.rule)) continue;
      const segments = parseJsonPath(path);
      if (segments.some((seg) => seg.each)) {
        out.push(leaves(path));
        continue;
      }
      const at = `${v} #> ${literal(`{${segments.map((seg) => seg.key).join(",")}}`)}`;
      scalars.push(`case when jsonb_typeof(${at}) = 'string' then ${at} #>> '{}' end`);
    }
  }
  if (scalars.length) {
    out.unshift(
      `select x.v ${from} cross join lateral (values ${
        scalars.map((e) => `(${e})`).join(", ")
      }) as x(v)`,
    );
  }
  return out;
}

/**
 * SQL of one redacted "before" value for dry-run samples: kept columns as they are, others
 * as their first character and length (`a…(17)`), JSON objects as their keys. The redaction
 * happens on the source too.
 */
export function redactedExpr(column: ColumnInfo, rule: ColumnRule | undefined): string {
  const v = `t.${ident(column.name)}`;
  if (rule?.rule === "keep" && !rule.pii) return `${v}::text`;
  if (column.type === "jsonb") {
    return `case when jsonb_typeof(${v}) = 'object' then '{' || coalesce((select string_agg(k, ', ' order by k) from jsonb_object_keys(${v}) as k), '') || ': …}' else left(${v}::text, 1) || '…' end`;
  }
  return `case when ${v} is null then null else left(${v}::text, 1) || '…(' || length(${v}::text) || ')' end`;
}
