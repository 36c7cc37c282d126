/**
 * The small frame every CLI command shares: one option table per command from which both the
 * parser and the `--help` text are built (so an option cannot be parsed and left out of the
 * usage, or documented and not parsed), usage errors that exit with code 2, and a database
 * connection for an environment.
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

/** One option of a command: how it parses and how its usage shows it, in one place. */
export interface OptionSpec {
  type: "string" | "boolean";
  /** How the value shows in the usage, e.g. `<env>` (string options). */
  value?: string;
  /** What it does; further lines continue the help column. */
  help: string;
  /** Shown without brackets in the synopsis; the command checks it with {@link required}. */
  required?: boolean;
}

/** A command's options by flag name (without `--`). `--help` is added to every command. */
export type OptionTable = Record<string, OptionSpec>;

/** One CLI command. `run` returns the process exit code. */
export interface Command<O extends OptionTable = OptionTable> {
  /** Words that select it, e.g. `user create`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Positional arguments shown after the name, e.g. `<promotion id>`. */
  args?: string;
  /** What comes before `stagecoach` in the synopsis, e.g. `printf %s "$VALUE" |`. */
  stdin?: string;
  /** Other ways to call it, shown under the synopsis (`stagecoach …`). */
  also?: string[];
  /** What it does, shown between the synopsis and the options. */
  description?: string;
  /** The options: they are parsed and documented from this one table. */
  options: O;
  /** Text after the options (exit codes, examples). */
  footer?: string;
  run(args: string[]): Promise<number>;
}

/** `--env <env>`, required, for commands that act on one environment. */
export const ENV_OPTION = {
  type: "string",
  value: "<env>",
  help: "development | staging | production",
  required: true,
} as const satisfies OptionSpec;

/** The values of parsed options: booleans for flags, strings for the rest. */
export type OptionValues<T extends OptionTable> = {
  [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string;
};

/**
 * Declares a command; its options' value types come from its table.
 *
 * @example
 * ```ts
 * export const statusCommand = defineCommand({
 *   name: "status",
 *   summary: "Show the local stack",
 *   options: { json: { type: "boolean", help: "print as JSON" } },
 *   async run(args) { … },
 * });
 * ```
 */
export function defineCommand<const O extends OptionTable>(
  command: Command<O> & ThisType<Command<O>>,
): Command<O> {
  return command;
}

const WIDTH = 96;
const FLAG_COLUMN = 22;

function flag(name: string, spec: OptionSpec): string {
  return spec.type === "string" ? `--${name} ${spec.value ?? "<value>"}` : `--${name}`;
}

/** Words joined into lines no wider than {@link WIDTH}, continued under `indent`. */
function wrap(head: string, words: string[], indent: number): string[] {
  const lines = [head];
  for (const word of words) {
    const last = lines[lines.length - 1];
    if (last.length + 1 + word.length > WIDTH && last.trim().length > 0 && last !== head) {
      lines.push(" ".repeat(indent) + word);
    } else {
      lines[lines.length - 1] = `${last} ${word}`;
    }
  }
  return lines;
}

/**
 * The `--help` text of a command, built from its option table: the synopsis (required
 * options bare, the others in brackets), the description, one line per option, the footer.
 *
 * @example
 * ```ts
 * console.log(usage(statusCommand)); // "usage: stagecoach status [--json]\n…"
 * ```
 */
export function usage(command: Command): string {
  const entries = Object.entries(command.options);
  const head = `usage: ${command.stdin ? `${command.stdin} ` : ""}stagecoach ${command.name}`;
  const words = [
    ...(command.args ? [command.args] : []),
    ...entries.map(([name, spec]) => spec.required ? flag(name, spec) : `[${flag(name, spec)}]`),
  ];
  const synopsis = wrap(head, words, head.length + 1);
  for (const line of command.also ?? []) synopsis.push(`       ${line}`);
  const width = Math.min(
    FLAG_COLUMN,
    Math.max(...entries.map(([name, spec]) => flag(name, spec).length), "-h, --help".length),
  );
  const options = [...entries.map(([name, spec]) => [flag(name, spec), spec.help] as const)]
    .flatMap(([text, help]) => {
      const [first, ...rest] = help.split("\n");
      const pad = " ".repeat(width + 4);
      const lines = text.length > width
        ? [`  ${text}`, `${pad}${first}`]
        : [`  ${text.padEnd(width)}  ${first}`];
      return [...lines, ...rest.map((line) => `${pad}${line}`)];
    });
  return [
    ...synopsis,
    ...(command.description ? ["", command.description] : []),
    "",
    "options:",
    ...options,
    "  -h, --help",
    ...(command.footer ? ["", command.footer] : []),
  ].join("\n");
}

/**
 * Parses a command's options strictly; `--help` is always accepted.
 *
 * @returns the values, or null when `--help` was asked for (the usage has been printed)
 * @throws {UsageError} for unknown options, missing values or stray arguments
 */
export function parseOptions<O extends OptionTable>(
  command: Command<O>,
  args: string[],
): OptionValues<O> | null {
  const parsed = parseCommand(command, args, []);
  return parsed ? parsed.values : null;
}

/**
 * Parses options from the command's table and exactly the named positional arguments
 * (e.g. `["id"]`).
 *
 * @returns values and positionals by name, or null after printing `--help`
 * @throws {UsageError} for unknown options, a missing or an extra positional argument
 */
export function parseCommand<O extends OptionTable, P extends string>(
  command: Command<O>,
  args: string[],
  positionals: readonly P[],
): { values: OptionValues<O>; args: Record<P, string> } | null {
  const config: ParseArgsOptionsConfig = { help: { type: "boolean", short: "h" } };
  for (const [name, spec] of Object.entries(command.options)) config[name] = { type: spec.type };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: config,
      strict: true,
      allowPositionals: positionals.length > 0,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.values.help) {
    console.log(usage(command));
    return null;
  }
  if (parsed.positionals.length < positionals.length) {
    throw new UsageError(`Missing argument <${positionals[parsed.positionals.length]}>`);
  }
  if (parsed.positionals.length > positionals.length) {
    throw new UsageError(`Unexpected argument "${parsed.positionals[positionals.length]}"`);
  }
  const named = Object.fromEntries(positionals.map((p, i) => [p, parsed.positionals[i]]));
  return { values: parsed.values as OptionValues<O>, args: named as Record<P, string> };
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
export function envOption(
  value: string | undefined,
  flag = "--env",
  opts: { database?: boolean } = {},
): Target {
  const name = required(value, flag);
  try {
    return resolveTarget(name, opts);
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

/**
 * Reads a whole-number option that must be positive.
 *
 * @throws {UsageError} naming the option when it is not a positive whole number
 */
export function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`Invalid ${flag}: "${value}" is not a positive whole number`);
  }
  return n;
}

/**
 * Reads a key given as `--key-file` or an environment variable, checked by `choose` (which
 * gets the file's content, if any, and the variable's value).
 *
 * @throws {UsageError} when the file cannot be read or `choose` refuses (the key is never shown)
 */
export async function readKeyOption(
  keyFile: string | undefined,
  opts: {
    variable: string;
    choose: (given: { envValue?: string; fileContent?: string }) => string;
  },
): Promise<string> {
  let fileContent: string | undefined;
  if (keyFile !== undefined) {
    try {
      fileContent = await Deno.readTextFile(keyFile);
    } catch {
      throw new UsageError(`Invalid --key-file: cannot read ${keyFile}`);
    }
  }
  try {
    return opts.choose({ envValue: Deno.env.get(opts.variable), fileContent });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Who runs the CLI, for audit entries and job records: `cli:<user>@<host>`. */
export function cliActor(): string {
  const user = Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? "unknown";
  return `cli:${user}@${Deno.hostname()}`;
}
