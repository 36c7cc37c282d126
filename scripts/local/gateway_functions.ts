/**
 * Which Edge Functions the local gateway serves and whether each needs a JWT, read the way
 * the Supabase CLI reads them: every folder of `supabase/functions/` holding an `index.ts`
 * (except `_shared` and other names starting with `_` or `.`), and `verify_jwt` from
 * `[functions.<name>]` in `supabase/config.toml` (default `true`).
 *
 * @module
 */
import { join } from "node:path";
import { parse } from "smol-toml";

/** One function the gateway serves. */
export interface FunctionSpec {
  /** Folder name, also the URL segment after `/functions/v1/`. */
  name: string;
  /** Absolute path of the function's `index.ts`. */
  entry: string;
  /** Whether the gateway verifies the caller's JWT before forwarding. */
  verifyJwt: boolean;
}

/**
 * Reads the `verify_jwt` setting of each function configured in `config.toml`.
 *
 * @param configToml the text of `supabase/config.toml`
 * @returns function name → `verify_jwt`, only for functions that set it
 * @throws {Error} when the TOML is invalid or a `verify_jwt` is not a boolean
 * @example
 * ```ts
 * verifyJwtSettings('[functions.stripe-webhook]\nverify_jwt = false\n');
 * // { "stripe-webhook": false }
 * ```
 */
export function verifyJwtSettings(configToml: string): Record<string, boolean> {
  let config: Record<string, unknown>;
  try {
    config = parse(configToml) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`Cannot read supabase/config.toml: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const functions = (config.functions ?? {}) as Record<string, Record<string, unknown>>;
  const settings: Record<string, boolean> = {};
  for (const [name, section] of Object.entries(functions)) {
    const value = section?.verify_jwt;
    if (value === undefined) continue;
    if (typeof value !== "boolean") {
      throw new Error(
        `Cannot read supabase/config.toml: functions.${name}.verify_jwt is ${
          JSON.stringify(value)
        }, expected true or false`,
      );
    }
    settings[name] = value;
  }
  return settings;
}

/**
 * Whether a folder of `supabase/functions/` is a function (and not `_shared`, a dotfile…).
 *
 * @param name the folder name
 */
export function isFunctionFolder(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name);
}

/**
 * Lists the functions of a repository with their `verify_jwt` setting.
 *
 * @param repoRoot the repository root (holding `supabase/`)
 * @returns the functions, sorted by name
 * @throws {Error} when `supabase/config.toml` exists but cannot be read
 * @example
 * ```ts
 * const specs = await discoverFunctions(REPO_ROOT);
 * specs.map((f) => f.name); // ["ops", "ops-worker", "stripe-webhook"]
 * ```
 */
export async function discoverFunctions(repoRoot: string): Promise<FunctionSpec[]> {
  const functionsDir = join(repoRoot, "supabase", "functions");
  let settings: Record<string, boolean> = {};
  try {
    settings = verifyJwtSettings(await Deno.readTextFile(join(repoRoot, "supabase/config.toml")));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const specs: FunctionSpec[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(functionsDir));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  for (const dirent of entries) {
    if (!dirent.isDirectory || !isFunctionFolder(dirent.name)) continue;
    const entry = join(functionsDir, dirent.name, "index.ts");
    try {
      if (!(await Deno.stat(entry)).isFile) continue;
    } catch {
      continue;
    }
    specs.push({ name: dirent.name, entry, verifyJwt: settings[dirent.name] ?? true });
  }
  return specs.sort((a, b) => a.name.localeCompare(b.name));
}
