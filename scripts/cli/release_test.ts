import assert from "node:assert/strict";
import { UsageError } from "./command.ts";
import { releaseCommand, releaseListCommand } from "./release.ts";

Deno.test("release refuses bad input before it reaches any environment", async () => {
  const cases: [string[], RegExp][] = [
    [[], /Missing required option --to/],
    [["--to", "qa"], /Invalid --to: Cannot find environment "qa"/],
    [["--to", "development"], /nothing is released into development; pass --from/],
    [["--to", "staging", "--from", "staging"], /--from and --to must differ/],
    [["--to", "staging", "--scope", "config,bogus"], /Invalid --scope: bogus/],
    [["--to", "staging", "--timeout", "5m"], /--timeout needs --wait/],
    [
      ["--to", "staging", "--wait", "--timeout", "soon"],
      /Invalid --timeout: "soon" is not a duration/,
    ],
    [["--to", "staging", "--promotion", "42"], /Invalid --promotion: "42" is not a uuid/],
    [["--to", "staging", "--frobnicate"], /Unknown option '--frobnicate'/],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(() => releaseCommand.run(args), (err: Error) => {
      assert.ok(err instanceof UsageError, `${args.join(" ")}: ${err}`);
      assert.match(err.message, message);
      return true;
    });
  }
});

Deno.test("release list refuses a limit out of range", async () => {
  await assert.rejects(
    () => releaseListCommand.run(["--env", "staging", "--limit", "0"]),
    /Invalid --limit: "0" is not a whole number in 1..200/,
  );
});
