/**
 * Supabase's database linter ("splinter": rls_disabled_in_public, policy_exists_rls_disabled,
 * security_definer_view, function_search_path_mutable, ...) against a live Postgres, through
 * the `dblint` command of the Postgres Language Server CLI from npm.
 *
 * The CLI is a native binary shipped inside a per-platform npm package; we run the
 * `@postgrestools/postgrestools` release through `deno run npm:…` (all of its platform
 * packages are on the registry; the newer `@postgres-language-server/cli` name misses some,
 * which breaks both `deno run` and `npm ci`). It is a tool, so it is pinned here rather than
 * in package.json.
 *
 * Splinter's Supabase rules run only when the roles `anon`, `authenticated` and
 * `service_role` exist, and the rules about exposed schemas read the `pgrst.db_schemas`
 * setting that PostgREST's database normally carries; we set it for the lint session through
 * the connection's `options`, from the schemas we expose (`[api] schemas` in
 * supabase/config.toml).
 *
 * @module
 */
import { join } from "node:path";

/** The exact CLI release we run. */
export const PGLS_PACKAGE = "npm:@postgrestools/postgrestools@0.25.7";

/** The schemas PostgREST exposes, as `[api] schemas` in supabase/config.toml. */
export const API_SCHEMAS = ["public", "graphql_public"];

/** One splinter finding. */
export interface SplinterLint {
  /** Splinter's lint name, e.g. `rls_disabled_in_public`. */
  name: string;
  /** `ERROR`, `WARN` or `INFO`. */
  level: string;
  /** What and where, e.g. "Table `public.leaky` is public, but RLS has not been enabled." */
  detail: string;
}

interface DblintReport {
  diagnostics: { severity: string; message: string; category: string }[];
}

/** The CLI's severities as splinter's levels. */
const LEVELS: Record<string, string> = { error: "ERROR", warning: "WARN", info: "INFO" };

/**
 * Runs every splinter lint against the database at `dbUrl` and returns what they report.
 *
 * @param dbUrl a `postgresql://` URL of a database we may read the catalogs of
 * @param opts.apiSchemas the schemas exposed through the API (default {@link API_SCHEMAS})
 * @returns one entry per finding, in the CLI's order; empty when the schema is clean
 * @throws {Error} when the CLI cannot be run, cannot connect, or prints no report
 */
export async function runSplinter(
  dbUrl: string,
  opts: { apiSchemas?: string[] } = {},
): Promise<SplinterLint[]> {
  const dir = await Deno.makeTempDir({ prefix: "splinter-" });
  try {
    const configPath = join(dir, "postgres-language-server.jsonc");
    await Deno.writeTextFile(configPath, dblintConfig(dbUrl, opts.apiSchemas ?? API_SCHEMAS), {
      mode: 0o600,
    });
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-prompt",
        PGLS_PACKAGE,
        "dblint",
        `--config-path=${configPath}`,
        "--reporter=json",
        "--max-diagnostics=none",
        "--colors=off",
      ],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    // The CLI exits 1 whenever a lint reports an error, so the report, not the code, decides.
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr).trim();
    return parseReport(stdout, `exit ${out.code}${stderr ? `\n${stderr}` : ""}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The CLI configuration that runs only splinter against `dbUrl`. */
function dblintConfig(dbUrl: string, apiSchemas: string[]): string {
  let url: URL;
  try {
    url = new URL(dbUrl);
  } catch {
    throw new Error(`Cannot run splinter: ${JSON.stringify(dbUrl)} is not a URL`);
  }
  const setting = `-c pgrst.db_schemas=${apiSchemas.join(",")}`;
  const options = url.searchParams.get("options");
  url.searchParams.set("options", options ? `${options} ${setting}` : setting);
  return JSON.stringify(
    {
      vcs: { enabled: false },
      linter: { enabled: false },
      typecheck: { enabled: false },
      plpgsqlCheck: { enabled: false },
      pglinter: { enabled: false },
      splinter: { enabled: true },
      db: { connectionString: url.href },
    },
    null,
    2,
  );
}

/** Turns the CLI's JSON report into splinter findings; `failure` describes the run. */
function parseReport(stdout: string, failure: string): SplinterLint[] {
  let report: DblintReport;
  try {
    report = JSON.parse(stdout);
  } catch {
    throw new Error(`Cannot run splinter: no JSON report (${failure})`);
  }
  if (!Array.isArray(report?.diagnostics)) {
    throw new Error(`Cannot run splinter: report has no diagnostics (${failure})`);
  }
  const others = report.diagnostics.filter((d) => !d.category.startsWith("splinter/"));
  if (others.length > 0) {
    const what = others.map((d) => `${d.category}: ${d.message}`).join("; ");
    throw new Error(`Cannot run splinter: the CLI reported ${what}`);
  }
  return report.diagnostics.map((d) => ({
    name: lintName(d.category),
    level: LEVELS[d.severity] ?? d.severity.toUpperCase(),
    detail: d.message.replaceAll("\\`", "`"),
  }));
}

/** `splinter/security/rlsDisabledInPublic` -> `rls_disabled_in_public`. */
function lintName(category: string): string {
  const rule = category.slice(category.lastIndexOf("/") + 1);
  return rule.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
