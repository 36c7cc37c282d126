/** `stagecoach status`: the local stack, per environment, like `supabase status`. */
import { defineCommand, parseOptions } from "./command.ts";
import { collectStatus, localStack, printStatus } from "./target.ts";

/** Prints the status; exits 1 when an environment is not healthy. */
export const statusCommand = defineCommand({
  name: "status",
  summary: "Show URLs, keys, migration version and health of each local environment",
  description:
    `Shows, per environment (development, staging, production): API, functions and DB URLs, the
anon and service-role keys, the latest migration applied, and whether the database, the
functions gateway, the pg_net worker and the ops-worker cron job are up.
Exits 1 when any environment is unhealthy.`,
  options: { json: { type: "boolean", help: "print the status as JSON" } },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const statuses = await collectStatus(localStack());
    printStatus(statuses, { json: values.json ?? false });
    return statuses.every((s) => s.healthy) ? 0 : 1;
  },
});
