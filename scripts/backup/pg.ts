/**
 * The Postgres client programs a backup runs (`pg_dump`, `pg_dumpall`, `psql`) of the server's
 * major version, without Docker. The connection travels in `PG*` environment variables, never
 * in arguments (which other users of the machine can read), and any error text is masked
 * before it is shown.
 *
 * @module
 */
import { maskSecrets } from "../release/supabase_cli.ts";

/** Where a program connects: `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, … */
export type PgEnv = Record<string, string>;

/**
 * The `PG*` variables of a connection URL (query parameters such as `sslmode` included).
 *
 * @example
 * ```ts
 * pgEnv("postgresql://postgres:pw@127.0.0.1:5432/postgres?sslmode=disable").PGSSLMODE; // "disable"
 * ```
 */
export function pgEnv(dbUrl: string): PgEnv {
  const url = new URL(dbUrl);
  const env: PgEnv = {
    PGHOST: decodeURIComponent(url.hostname.replace(/^\[|\]$/g, "")),
    PGPORT: url.port || "5432",
    PGUSER: decodeURIComponent(url.username),
    PGPASSWORD: decodeURIComponent(url.password),
    PGDATABASE: decodeURIComponent(url.pathname.replace(/^\//, "")) || "postgres",
  };
  for (const [k, v] of url.searchParams) {
    if (k === "sslmode") env.PGSSLMODE = v;
    if (k === "options") env.PGOPTIONS = v;
  }
  return env;
}

/** The same server's URL with another database name. */
export function withDatabaseName(dbUrl: string, database: string): string {
  const url = new URL(dbUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** Masks a database URL and its password in text. */
export function maskDb(text: string, dbUrl: string): string {
  const password = decodeURIComponent(new URL(dbUrl).password);
  return maskSecrets(text, [dbUrl, ...(password ? [password] : [])]);
}

/**
 * The folder of the client programs of a server major version: `STAGECOACH_PG_BIN`, else
 * Debian's `/usr/lib/postgresql/<major>/bin`, else the PATH.
 */
export function pgBin(major: number, program: string): string {
  const dir = Deno.env.get("STAGECOACH_PG_BIN") ?? `/usr/lib/postgresql/${major}/bin`;
  try {
    Deno.statSync(`${dir}/${program}`);
    return `${dir}/${program}`;
  } catch {
    return program;
  }
}

/** A running client program. */
export interface PgProcess {
  process: Deno.ChildProcess;
  /** Resolves with the exit; rejects with the masked stderr when it failed. */
  done: Promise<void>;
}

/**
 * Spawns a client program against a connection. stdout is piped when `stdout` is "piped",
 * stdin when `stdin` is "piped".
 */
export function spawnPg(
  program: string,
  args: string[],
  opts: {
    dbUrl: string;
    what: string;
    stdin?: "piped" | "null";
    stdout?: "piped" | "null";
  },
): PgProcess {
  const process = new Deno.Command(program, {
    args,
    env: { ...pgEnv(opts.dbUrl), PGAPPNAME: "stagecoach_backup", PGCONNECT_TIMEOUT: "10" },
    stdin: opts.stdin ?? "null",
    stdout: opts.stdout ?? "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(process.stderr).text();
  const done = (async () => {
    const status = await process.status;
    const text = await stderr;
    if (!status.success) {
      const tail = maskDb(text, opts.dbUrl).trim().split("\n").slice(-8).join("\n");
      throw new Error(
        `Cannot ${opts.what}: ${program.split("/").pop()} exited ${status.code}\n${tail}`,
      );
    }
  })();
  return { process, done };
}

/** Runs a client program to the end and returns its stdout as text. */
export async function runPg(
  program: string,
  args: string[],
  opts: { dbUrl: string; what: string },
): Promise<string> {
  const p = spawnPg(program, args, opts);
  const [out] = await Promise.all([new Response(p.process.stdout).text(), p.done]);
  return out;
}
