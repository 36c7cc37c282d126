import assert from "node:assert/strict";
import { UsageError } from "./command.ts";
import {
  describeHalt,
  readFlagHealthQueries,
  renderRolloutStatus,
  rolloutStartCommand,
} from "./rollout.ts";

Deno.test("rollout start refuses bad stages, durations, breach actions and flags before connecting", async () => {
  const base = ["new_checkout", "--env", "production", "--stages", "1,100", "--every", "30m"];
  const cases: [string[], RegExp][] = [
    [
      ["new_checkout", "--env", "production", "--stages", "50,10", "--every", "30m"],
      /would take users out/,
    ],
    [
      ["new_checkout", "--env", "production", "--stages", "1,100", "--every", "soon"],
      /Invalid --every/,
    ],
    [
      ["new_checkout", "--env", "production", "--stages", "1,100", "--every", "1500ms"],
      /whole seconds/,
    ],
    [[...base, "--on-breach", "panic"], /not pause or rollback/],
    [["Bad Flag", "--env", "production", "--stages", "1,100", "--every", "30m"], /Invalid <flag>/],
    [[...base, "--promotion", "nope"], /not a uuid/],
    [[...base, "--health", "/nonexistent/q.sql"], /cannot read/],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(rolloutStartCommand.run(args), (e: Error) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("readFlagHealthQueries names a file whose header lacks its threshold", async () => {
  const file = await Deno.makeTempFile({ suffix: ".sql" });
  try {
    await Deno.writeTextFile(file, "-- direction: above\nselect 1");
    await assert.rejects(readFlagHealthQueries(file), /no `-- threshold: <number>` line/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("renderRolloutStatus shows stages, the current one, the next advance and the last samples", () => {
  const text = renderRolloutStatus({
    id: "r1",
    flag_key: "new_checkout",
    environment: "production",
    status: "paused",
    stages: [1, 5, 25, 50, 100],
    stage_index: 2,
    percent: 25,
    from_percent: 0,
    every_s: 1800,
    sample_every_s: 30,
    breach_after: 3,
    on_breach: "pause",
    next_advance_at: null,
    started_by: "cli:ana@host",
    promotion_id: "p1",
    halted: {
      action: "pause",
      by: "health",
      percent: 25,
      breached: [{
        unhealthy: [{
          name: "health:payment_failures",
          value: 0.4,
          direction: "above",
          threshold: 0.2,
        }],
      }],
    },
    created_at: new Date("2026-12-07T10:00:00Z"),
    finished_at: null,
    health: ["payment_failures"],
  }, [{
    seq: 7,
    taken_at: new Date("2026-12-07T11:00:00Z"),
    percent: 25,
    healthy: false,
    metrics: [{ name: "health:payment_failures", value: 0.4, healthy: false }],
  }]);
  assert.match(text, /^rollout r1 of new_checkout in production: paused at 25 %/);
  assert.match(text, /stages: +1 → 5 → \[25\] → 50 → 100 % \(each at least 30 min; from 0 %\)/);
  assert.match(
    text,
    /a sample every 30 s; 3 unhealthy in a row → pause; queries: payment_failures/,
  );
  assert.match(text, /next advance: —/);
  assert.match(text, /promotion p1/);
  assert.match(
    text,
    /halted: +pause by health at 25 % after 1 unhealthy sample\(s\): health:payment_failures 0\.4 \(above 0\.2 is bad\)/,
  );
  assert.match(
    text,
    /#7 2026-12-07T11:00:00.000Z at 25 %: unhealthy — health:payment_failures 0\.4/,
  );
});

Deno.test("describeHalt names who stopped a rollout by hand", () => {
  assert.equal(
    describeHalt({ action: "abort", by: "cli:ana@host", percent: 5 }),
    "abort by cli:ana@host at 5 %",
  );
});
