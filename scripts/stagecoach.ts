/**
 * The Stagecoach CLI: `deno task stagecoach <command> [options]`.
 *
 * This file only dispatches; each command lives in `scripts/cli/`. Exit codes: 0 success,
 * 1 failure, 2 usage error, 3 waiting for approval (`release`).
 *
 * @module
 */
import { type Command, usage, UsageError } from "./cli/command.ts";
import { statusCommand } from "./cli/status.ts";
import { tokenCommand, userCreateCommand } from "./cli/user.ts";
import { ApiCallError } from "./cli/api.ts";
import {
  auditVerifyCommand,
  configExportCommand,
  configImportCommand,
  configSetSecretCommand,
} from "./cli/config.ts";
import {
  promoteApplyCommand,
  promoteApproveCommand,
  promotePlanCommand,
  promoteRejectCommand,
  promoteRollbackCommand,
  promoteShowCommand,
  validateCommand,
} from "./cli/promote.ts";
import {
  notificationsAddCommand,
  notificationsListCommand,
  notificationsRemoveCommand,
} from "./cli/notifications.ts";
import { usersCopyCommand } from "./cli/users.ts";
import { etlListCommand, etlRunCommand } from "./cli/etl.ts";
import { stripeReconcileCommand } from "./cli/stripe.ts";
import { releaseCommand, releaseListCommand, releaseShowCommand } from "./cli/release.ts";
import { releaseRollbackCommand } from "./cli/release_rollback.ts";
import {
  rolloutAbortCommand,
  rolloutListCommand,
  rolloutPauseCommand,
  rolloutResumeCommand,
  rolloutStartCommand,
  rolloutStatusCommand,
} from "./cli/rollout.ts";
import {
  backupCreateCommand,
  backupListCommand,
  backupRestoreCommand,
  backupVerifyCommand,
} from "./cli/backup.ts";

const COMMANDS: Command[] = [statusCommand, userCreateCommand, tokenCommand];
COMMANDS.push(
  promotePlanCommand,
  promoteShowCommand,
  promoteApproveCommand,
  promoteRejectCommand,
  promoteApplyCommand,
  promoteRollbackCommand,
  validateCommand,
  configExportCommand,
  configImportCommand,
  configSetSecretCommand,
  auditVerifyCommand,
);
COMMANDS.push(notificationsAddCommand, notificationsListCommand, notificationsRemoveCommand);
COMMANDS.push(usersCopyCommand, etlRunCommand, etlListCommand);
COMMANDS.push(stripeReconcileCommand);
COMMANDS.push(releaseCommand, releaseShowCommand, releaseListCommand, releaseRollbackCommand);
COMMANDS.push(
  rolloutStartCommand,
  rolloutStatusCommand,
  rolloutListCommand,
  rolloutPauseCommand,
  rolloutResumeCommand,
  rolloutAbortCommand,
);
COMMANDS.push(backupCreateCommand, backupVerifyCommand, backupRestoreCommand, backupListCommand);

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "usage: deno task stagecoach <command> [options]   (every command takes --help)",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

/** Finds the command whose words start `args`; the longest name wins. */
function resolve(args: string[]): { command: Command; rest: string[] } | null {
  const matches = COMMANDS
    .map((command) => ({ command, words: command.name.split(" ") }))
    .filter(({ words }) => words.every((w, i) => args[i] === w))
    .sort((a, b) => b.words.length - a.words.length);
  if (!matches.length) return null;
  return { command: matches[0].command, rest: args.slice(matches[0].words.length) };
}

/** An API error's details as indented lines (lists one item per line). */
function describeDetails(details: Record<string, unknown>): string {
  return Object.entries(details).map(([k, v]) =>
    Array.isArray(v)
      ? `  ${k}:\n${
        v.map((x) => `    - ${typeof x === "string" ? x : JSON.stringify(x)}`).join("\n")
      }`
      : `  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`
  ).join("\n");
}

/** Runs the CLI with `args` and returns its exit code. */
export async function main(args: string[]): Promise<number> {
  if (!args.length || args[0] === "--help" || args[0] === "-h" || args[0] === "help") {
    console.log(overview());
    return args.length ? 0 : 2;
  }
  const found = resolve(args);
  if (!found) {
    console.error(`stagecoach: unknown command "${args.join(" ")}"\n\n${overview()}`);
    return 2;
  }
  try {
    return await found.command.run(found.rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`stagecoach ${found.command.name}: ${err.message}\n\n${usage(found.command)}`);
      return 2;
    }
    console.error(`stagecoach ${found.command.name}: ${(err as Error).message}`);
    if (err instanceof ApiCallError) console.error(describeDetails(err.details));
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
