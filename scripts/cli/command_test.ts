import assert from "node:assert/strict";
import { defineCommand, parseCommand, usage, UsageError } from "./command.ts";
import { promotePlanCommand } from "./promote.ts";

const example = defineCommand({
  name: "thing do",
  summary: "Do a thing",
  args: "<id>",
  description: "Does the thing.",
  options: {
    env: { type: "string", value: "<env>", help: "where", required: true },
    "dry-run": { type: "boolean", help: "show only;\nwrite nothing" },
  },
  run: () => Promise.resolve(0),
});

Deno.test("usage is built from the option table: synopsis, description, one line per option", () => {
  assert.equal(
    usage(example),
    [
      "usage: stagecoach thing do <id> --env <env> [--dry-run]",
      "",
      "Does the thing.",
      "",
      "options:",
      "  --env <env>  where",
      "  --dry-run    show only;",
      "               write nothing",
      "  -h, --help",
    ].join("\n"),
  );
});

Deno.test("parseCommand parses exactly the table's options", () => {
  const parsed = parseCommand(example, ["x", "--env", "staging", "--dry-run"], ["id"]);
  assert.deepEqual({ ...parsed!.values }, { env: "staging", "dry-run": true });
  assert.deepEqual(parsed!.args, { id: "x" });
  assert.throws(
    () => parseCommand(example, ["x", "--bogus"], ["id"]),
    (err: Error) => err instanceof UsageError && /Unknown option '--bogus'/.test(err.message),
  );
});

Deno.test("promote plan documents every option it parses, --dry-run included", () => {
  const text = usage(promotePlanCommand);
  for (const name of Object.keys(promotePlanCommand.options)) {
    assert.match(text, new RegExp(`\\n  --${name}\\b`), name);
  }
  assert.match(text, /--dry-run +show the plan only; record nothing/);
});
