/**
 * The Supabase CLI (the pinned `node_modules/.bin/supabase`) as a release runs it against a
 * target: `db push` with the target's database URL, `secrets set` and `functions deploy
 * --use-api` through the Management API (`SUPABASE_ACCESS_TOKEN`, and on the local stack a
 * profile whose `api_url` is the stack's Management API).
 *
 * Output and errors never carry the database URL or a secret value: both are replaced by
 * `***` before anything is printed or recorded.
 *
 * @module
 */
import { join } from "node:path";

/** How the CLI reaches a target's Management API. */
export interface ManagementAccess {
  projectRef: string;
  accessToken: string;
  /** A CLI profile file (`--profile`), for the local stack's Management API. */
  profile?: string;
}

/** What the runner needs. */
export interface SupabaseCliOptions {
  /** The repository root (holding `supabase/`). */
  repoRoot: string;
  /** The target's Postgres URL (db push). */
  dbUrl: string;
  /** Management API access (secrets, functions deploy); absent: those steps refuse. */
  management?: ManagementAccess;
  /** Values to mask in any output (the URL and the access token are always masked). */
  secrets?: string[];
}

/** Replaces every secret (and the password of any URL) by `***`. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join("***");
  }
  return out.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/g, "$1***@");
}

/** A Supabase CLI bound to one target. */
export function supabaseCli(opts: SupabaseCliOptions) {
  const bin = join(opts.repoRoot, "node_modules/.bin/supabase");
  const masked = [opts.dbUrl, opts.management?.accessToken ?? "", ...(opts.secrets ?? [])];

  async function run(args: string[], what: string): Promise<string> {
    const env: Record<string, string> = { ...Deno.env.toObject(), SUPABASE_NO_UPDATE_CHECK: "1" };
    if (opts.management) env.SUPABASE_ACCESS_TOKEN = opts.management.accessToken;
    const out = await new Deno.Command(bin, {
      args,
      cwd: opts.repoRoot,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = maskSecrets(
      new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
      masked,
    );
    if (out.code !== 0) {
      throw new Error(
        `Cannot ${what}: supabase exited ${out.code}\n${
          text.trim().split("\n").slice(-15).join("\n")
        }`,
      );
    }
    return text;
  }

  function management(what: string): string[] {
    const m = opts.management;
    if (!m) {
      throw new Error(
        `Cannot ${what}: no Management API access (set SUPABASE_ACCESS_TOKEN and the project ref)`,
      );
    }
    return ["--project-ref", m.projectRef, ...(m.profile ? ["--profile", m.profile] : [])];
  }

  return {
    /** `supabase db push` (with `--dry-run`: what it would apply). */
    dbPush({ dryRun }: { dryRun: boolean }): Promise<string> {
      const args = ["db", "push", "--db-url", opts.dbUrl, "--yes"];
      if (dryRun) args.push("--dry-run");
      return run(args, dryRun ? "list pending migrations" : "push migrations");
    },
    /** `supabase migration repair --status <status> <versions…>` (the history table only). */
    migrationRepair(status: "applied" | "reverted", versions: string[]): Promise<string> {
      return run(
        ["migration", "repair", "--db-url", opts.dbUrl, "--status", status, ...versions],
        `mark migrations ${status} in the history`,
      );
    },
    /** `supabase secrets set --env-file …` (a file of mode 600, removed afterwards). */
    async setSecrets(secrets: Record<string, string>): Promise<string> {
      const args = management("set function secrets");
      masked.push(...Object.values(secrets));
      const file = await Deno.makeTempFile({ prefix: "stagecoach-secrets-", suffix: ".env" });
      try {
        await Deno.chmod(file, 0o600);
        const lines = Object.entries(secrets).map(([k, v]) => {
          if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`Cannot set secret ${k}: not a name`);
          return `${k}=${JSON.stringify(v)}`;
        });
        await Deno.writeTextFile(file, lines.join("\n") + "\n");
        return await run(["secrets", "set", "--env-file", file, ...args], "set function secrets");
      } finally {
        await Deno.remove(file).catch(() => {});
      }
    },
    /** `supabase functions deploy --use-api` of every function. */
    deployFunctions(): Promise<string> {
      return run(
        ["functions", "deploy", "--use-api", ...management("deploy functions")],
        "deploy functions",
      );
    },
  };
}
