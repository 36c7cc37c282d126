/**
 * Where the `flags` function reads definitions: `flags.definitions_since` (migration
 * `20261207000300`), one statement returning the version stamp and, only when it differs from
 * the one the cache holds, every definition. The function's named service path: it runs on the
 * bare pool (the owner may call it; service_role may, nobody else).
 *
 * @module
 */
import type { Queryable } from "../db.ts";
import type { LoadDefinitions } from "./cache.ts";

/**
 * A loader over a pool.
 *
 * @param sql the function's pool
 * @returns the loader {@link createFlagCache} takes
 */
export function sqlDefinitions(sql: Queryable): LoadDefinitions {
  return async (knownVersion) => {
    const [row] = await sql<{ version: string; definitions: unknown[] | null }[]>`
      select version, definitions from flags.definitions_since(${knownVersion})`;
    return { version: row.version, definitions: row.definitions };
  };
}
