/**
 * The small frame every CLI command shares: option parsing with `--help`, usage errors that
 * exit with code 2, and a database connection for a local environment.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import postgres, { type Sql } from "postgres";
import { resolveTarget, type Target } from "./target.ts";

/** A wrong invocation: the CLI prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** One CLI command. `run` returns the process exit code. */
export interface Command {
  /** Words that select it, e.g. `user create`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  usage: string;
  run(args: string[]): Promise<number>;
}

/** The values of parsed options: booleans for flags, strings for the rest. */
export type OptionValues<T extends ParseArgsOptionsConfig> = {
  [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string;
};

/**
 * Parses a command's options strictly; `--help` is always accepted.
 *
 * @returns the values, or null when `--help` was asked for (the usage has been printed)
 * @throws {UsageError} for unknown options, missing values or stray arguments
 */
export function parseOptions<T extends ParseArgsOptionsConfig>(
  command: Command,
  args: string[],
  options: T,
): OptionValues<T> | null {
  const parsed = parseCommand(command, args, options, []);
  return parsed ? parsed.values : null;
}

/**
 * Parses options and exactly the named positional arguments (e.g. `["id"]`).
 *
 * @returns values and positionals by name, or null after printing `--help`
 * @throws {UsageError} for unknown options, a missing or an extra positional argument
 */
export function parseCommand<T extends ParseArgsOptionsConfig, P extends string>(
  command: Command,
  args: string[],
  options: T,
  positionals: readonly P[],
): { values: OptionValues<T>; args: Record<P, string> } | null {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: positionals.length > 0,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.values.help) {
    console.log(command.usage);
    return null;
  }
  if (parsed.positionals.length < positionals.length) {
    throw new UsageError(`Missing argument <${positionals[parsed.positionals.length]}>`);
  }
  if (parsed.positionals.length > positionals.length) {
    throw new UsageError(`Unexpected argument "${parsed.positionals[positionals.length]}"`);
  }
  const named = Object.fromEntries(positionals.map((p, i) => [p, parsed.positionals[i]]));
  return { values: parsed.values as OptionValues<T>, args: named as Record<P, string> };
}

/** Reads a required string option. @throws {UsageError} when it is absent */
export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`Missing required option ${flag}`);
  return value;
}

/**
 * Parses an environment option (`--env`, `--from`, `--to`) into where it is reached.
 *
 * @throws {UsageError} for an unknown environment or a half-described hosted one
 */
export function envOption(value: string | undefined, flag = "--env"): Target {
  const name = required(value, flag);
  try {
    return resolveTarget(name);
  } catch (err) {
    throw new UsageError(`Invalid ${flag}: ${(err as Error).message}`);
  }
}

/**
 * Opens a connection to an environment's database, runs `fn`, and closes it.
 *
 * @param opts.max most connections, default 2 (a job runner needs one beside its batches)
 * @param opts.prepare named prepared statements, default true (false where a pooler in
 * transaction mode may sit in front of the database)
 * @throws {Error} "Cannot connect to <env>: …" when the database does not answer
 */
export async function withDatabase<T>(
  env: Pick<Target, "name" | "dbUrl" | "mode">,
  fn: (sql: Sql) => Promise<T>,
  opts: { max?: number; prepare?: boolean } = {},
): Promise<T> {
  const sql = postgres(env.dbUrl, {
    max: opts.max ?? 2,
    prepare: opts.prepare ?? true,
    connect_timeout: 5,
    onnotice: () => {},
    connection: { application_name: "stagecoach_cli" },
  });
  try {
    await sql`select 1`.catch((cause) => {
      throw new Error(
        `Cannot connect to ${env.name}: ${cause.message} (${
          env.mode === "local" ? "is the stack up? npm start" : "check its DB_URL variable"
        })`,
      );
    });
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}
