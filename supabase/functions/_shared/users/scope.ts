/**
 * What a user copy covers: the four tables of a Supabase user, in load order (parents first),
 * each with its keyset key and the column naming its user; and which users are selected
 * (`--sample <percent>`, `--where <sql on auth.users>`), as SQL predicates evaluated on the
 * source. Pure.
 *
 * @module
 */

/** One copied table. */
export interface UserTable {
  /** `schema.table`. */
  name: string;
  /** Primary key (a uuid), the keyset cursor's column. */
  key: string;
  /** The column holding the user's id (`id` for users and profiles). */
  userColumn: string;
}

/** The tables of a user copy, parents first. */
export const USER_TABLES: readonly UserTable[] = [
  { name: "auth.users", key: "id", userColumn: "id" },
  { name: "auth.identities", key: "id", userColumn: "user_id" },
  { name: "public.profiles", key: "id", userColumn: "id" },
  { name: "public.memberships", key: "id", userColumn: "user_id" },
];

/** Names of {@link USER_TABLES}. */
export const USER_TABLE_NAMES: readonly string[] = USER_TABLES.map((t) => t.name);

/** Which users a copy takes; their identities, profile and memberships follow. */
export interface Selection {
  /** Percent of users (0 < p ≤ 100), picked by a hash of the user id: stable across runs. */
  sample?: number;
  /** A predicate on `auth.users` (alias `u`), e.g. `u.created_at > now() - interval '30 days'`. */
  where?: string;
}

/**
 * Quotes an SQL identifier, or a `schema.table` name part by part.
 *
 * @example
 * ```ts
 * ident("auth.users"); // "\"auth\".\"users\""
 * ```
 */
export function ident(name: string): string {
  return name.split(".").map((p) => `"${p.replaceAll('"', '""')}"`).join(".");
}

/**
 * Quotes an SQL string literal. A value with a backslash becomes an escape string (`E'…'`,
 * backslashes doubled, as libpq's `PQescapeLiteral` does), so the literal means the same
 * whatever `standard_conforming_strings` is.
 *
 * @example
 * ```ts
 * literal("O'Brien"); // "'O''Brien'"
 * literal("a\\b"); // "E'a\\\\b'"
 * ```
 */
export function literal(value: string): string {
  const quoted = value.replaceAll("'", "''");
  return value.includes("\\") ? `E'${quoted.replaceAll("\\", "\\\\")}'` : `'${quoted}'`;
}

/**
 * Refuses a `--where` that could do more than filter: statement separators, comments, or
 * parentheses that close what the copy opened. A cheap first check only: what contains the
 * predicate is the database (`source_reader.ts`: read only, a statement timeout, a role that
 * reads only the copied tables, inside `users_copy.selected_user_ids`).
 *
 * @throws {Error} "Cannot use --where: <reason>"
 */
export function assertSafeWhere(where: string): void {
  if (!where.trim()) throw new Error("Cannot use --where: it is empty");
  if (where.length > 2000) throw new Error("Cannot use --where: longer than 2000 characters");
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < where.length; i++) {
    const c = where[i];
    if (quote) {
      if (c === quote) quote = where[i + 1] === quote ? (i++, quote) : null;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === ";") throw new Error("Cannot use --where: it contains ';'");
    else if (c === "-" && where[i + 1] === "-") {
      throw new Error("Cannot use --where: it contains a comment");
    } else if (c === "/" && where[i + 1] === "*") {
      throw new Error("Cannot use --where: it contains a comment");
    } else if (c === "$") throw new Error("Cannot use --where: dollar quoting is not allowed");
    else if (c === "(") depth++;
    else if (c === ")" && --depth < 0) {
      throw new Error("Cannot use --where: a ')' closes more than it opens");
    }
  }
  if (quote) throw new Error("Cannot use --where: a quote is not closed");
  if (depth !== 0) throw new Error("Cannot use --where: a '(' is not closed");
}

/**
 * Validates a selection's values.
 *
 * @throws {Error} naming the option and the problem
 */
export function assertValidSelection(sel: Selection): void {
  if (sel.sample !== undefined) {
    if (!Number.isFinite(sel.sample) || sel.sample <= 0 || sel.sample > 100) {
      throw new Error(`Cannot use --sample: ${sel.sample} is not a percentage in (0, 100]`);
    }
  }
  if (sel.where !== undefined) assertSafeWhere(sel.where);
}

/**
 * The set of users a `--where` selects, as an SQL function call for a FROM clause: the
 * predicate travels as a string literal into `users_copy.selected_user_ids`, which evaluates
 * it on `auth.users as u` as the copy reader (see `source_reader.ts`). Nowhere else is a
 * `--where` put into SQL.
 *
 * @example
 * ```ts
 * selectedUserIds("u.email like '%@x.test'");
 * // "users_copy.selected_user_ids('u.email like ''%@x.test''')"
 * ```
 */
export function selectedUserIds(where: string): string {
  return `users_copy.selected_user_ids(${literal(where)})`;
}

/**
 * The SQL predicate selecting rows whose user is selected (a `--where` goes through
 * {@link selectedUserIds}, never inline).
 *
 * @param sel the selection
 * @param userId an SQL expression giving the row's user id, e.g. `t.user_id`
 * @returns an SQL boolean expression (`true` when everything is selected)
 * @example
 * ```ts
 * selectionPredicate({ sample: 10 }, "t.user_id");
 * // "(('x' || substr(md5(t.user_id::text), 1, 8))::bit(32)::bigint < 429496729)"
 * selectionPredicate({ where: "u.email like '%@x.test'" }, "t.id");
 * // "t.id in (select s.id from users_copy.selected_user_ids('u.email like ''%@x.test''') as s(id))"
 * ```
 */
export function selectionPredicate(sel: Selection, userId: string): string {
  const parts: string[] = [];
  if (sel.sample !== undefined && sel.sample < 100) {
    const threshold = Math.floor((sel.sample / 100) * 2 ** 32);
    parts.push(
      `(('x' || substr(md5(${userId}::text), 1, 8))::bit(32)::bigint < ${threshold})`,
    );
  }
  if (sel.where !== undefined) {
    parts.push(`${userId} in (select s.id from ${selectedUserIds(sel.where)} as s(id))`);
  }
  return parts.length ? parts.join(" and ") : "true";
}

/** A one-line description of a selection for logs and audit, e.g. `10 % sample`. */
export function describeSelection(sel: Selection): string {
  const parts: string[] = [];
  if (sel.sample !== undefined && sel.sample < 100) parts.push(`${sel.sample} % sample`);
  if (sel.where !== undefined) parts.push(`where ${sel.where}`);
  return parts.length ? parts.join(", ") : "all users";
}
