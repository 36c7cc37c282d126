/**
 * The function secrets a release sets on its target (`supabase secrets set`): which
 * environment it is (`STAGECOACH_ENV`), how its `ops` function reads the promotion's source
 * (`STAGECOACH_DB_URL_<SOURCE>`), and every `STAGECOACH_FUNCTION_SECRET_<NAME>` variable of
 * the release's own environment as `<NAME>` (the Stripe keys, the allowed origins, …).
 *
 * @module
 */
import { secretsFromVariables, type Target } from "../cli/target.ts";

/**
 * The secrets of a release into `to` from `from`.
 *
 * @example
 * ```ts
 * Object.keys(releaseSecrets(staging, development));
 * // ["STAGECOACH_ENV", "STAGECOACH_DB_URL_DEVELOPMENT", …]
 * ```
 */
export function releaseSecrets(
  to: Pick<Target, "name">,
  from: Pick<Target, "name" | "dbUrl">,
  vars: Record<string, string | undefined> = Deno.env.toObject(),
): Record<string, string> {
  return {
    STAGECOACH_ENV: to.name,
    [`STAGECOACH_DB_URL_${from.name.toUpperCase()}`]: from.dbUrl,
    ...secretsFromVariables(vars),
  };
}
