/**
 * Where a function finds the databases of other environments: function secrets named
 * `STAGECOACH_DB_URL_<ENVIRONMENT>` (e.g. `STAGECOACH_DB_URL_STAGING`), set with
 * `supabase secrets set` on a hosted project and written by the local stack. One small pool
 * per environment, made on first use.
 *
 * @module
 */
import type postgres from "postgres";
import { createDb } from "../db.ts";
import { ApiError } from "../http.ts";

/** The secret holding an environment's database URL. */
export function sourceUrlVariable(env: string): string {
  return `STAGECOACH_DB_URL_${env.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Makes a resolver from environment name to database pool.
 *
 * @param vars the function's environment variables
 * @throws {ApiError} 400 from the resolver when no secret names that environment
 */
export function sourceResolver(
  vars: Record<string, string | undefined>,
  create: (url: string) => postgres.Sql = (url) => createDb(url, { max: 2 }),
): (name: string) => postgres.Sql {
  const pools = new Map<string, postgres.Sql>();
  return (name) => {
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(name)) {
      throw new ApiError(
        400,
        "invalid_request",
        `Cannot use source "${name}": not an environment name`,
      );
    }
    let pool = pools.get(name);
    if (!pool) {
      const url = vars[sourceUrlVariable(name)];
      if (!url) {
        throw new ApiError(
          400,
          "unknown_source",
          `Cannot read source ${name}: this environment has no ${sourceUrlVariable(name)} secret`,
        );
      }
      pool = create(url);
      pools.set(name, pool);
    }
    return pool;
  };
}
