/**
 * Postgres access for Edge Functions: one small postgres.js pool from `SUPABASE_DB_URL`, and
 * {@link asCaller}, which runs work as the caller so row-level security decides.
 *
 * `SUPABASE_DB_URL` connects as `postgres`, which bypasses nothing by itself but may switch
 * to `anon`, `authenticated` and `service_role` (as PostgREST's `authenticator` does). Work
 * done on the bare pool is a service path: keep such paths few, narrow and named.
 *
 * @module
 */
import postgres from "postgres";
import { CALLER_ROLES, type CallerClaims } from "./auth.ts";

/** A postgres.js client. */
export type Sql = postgres.Sql;
/** A postgres.js transaction. */
export type Tx = postgres.TransactionSql;
/** A pool or a transaction: what a function needs that runs one or a few statements. */
export type Queryable = Sql | Tx;

/**
 * Creates the function's pool. `prepare: false` because Supabase's transaction pooler
 * (Supavisor) cannot keep prepared statements; a small pool because every function instance
 * has its own.
 *
 * @param url a `postgres://` URL, normally `SUPABASE_DB_URL`
 * @param opts.max most connections, default 3
 * @returns the client; call `sql.end()` to close it
 * @example
 * ```ts
 * const sql = createDb(env.SUPABASE_DB_URL);
 * ```
 */
export function createDb(url: string, opts: { max?: number } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 3,
    prepare: false,
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "stagecoach_edge_function" },
  });
}

/**
 * Runs `fn` in a transaction as the caller, exactly as PostgREST does for an API request:
 * `set_config('role', <role>, true)` and `set_config('request.jwt.claims', <claims>, true)`,
 * both local to the transaction, so `auth.uid()`, `auth.jwt()` and RLS policies see the
 * caller. The settings vanish at commit or rollback; the pooled connection stays clean.
 *
 * @param sql the pool
 * @param claims the caller's claims (from `readCallerClaims`)
 * @param fn the work, given the transaction
 * @returns what `fn` returns; the transaction commits when it resolves, rolls back when it throws
 * @throws {Error} when the role is not anon, authenticated or service_role (before any SQL)
 * @example
 * ```ts
 * const rows = await asCaller(sql, claims, (tx) => tx`select auth.uid() as id`);
 * ```
 */
export async function asCaller<T>(
  sql: Sql,
  claims: CallerClaims,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  if (!(CALLER_ROLES as readonly string[]).includes(claims.role)) {
    throw new Error(
      `Cannot act as the caller: role "${claims.role}" is not one of ${CALLER_ROLES.join(", ")}`,
    );
  }
  const result = await sql.begin(async (tx) => {
    await tx`
      select set_config('role', ${claims.role}, true),
             set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return [await fn(tx)];
  });
  return (result as unknown as [T])[0];
}
