import assert from "node:assert/strict";
import {
  describeSeconds,
  nextRolloutMove,
  parseStages,
  rolloutPlan,
  type RolloutState,
} from "./plan.ts";

Deno.test("parseStages: rising percentages from 1 to 100", () => {
  assert.deepEqual(parseStages("1,5,25,50,100"), [1, 5, 25, 50, 100]);
  assert.deepEqual(parseStages(" 10%, 100 "), [10, 100]);
});

Deno.test("parseStages: refuses what would take users out or is no percentage", () => {
  assert.throws(() => parseStages("5,5,100"), /rise strictly \(5 after 5\)/);
  assert.throws(() => parseStages("50,10"), /would take users out/);
  assert.throws(() => parseStages("0,100"), /"0" is not a percentage/);
  assert.throws(() => parseStages("1,101"), /"101" is not a percentage/);
  assert.throws(() => parseStages("1,,100"), /"" is not a percentage/);
  assert.throws(() => parseStages("abc"), /"abc" is not a percentage/);
});

Deno.test("rolloutPlan: the health queries by name and hash, sorted (as ops.rollout_plan)", () => {
  const sha = (c: string) => c.repeat(64);
  assert.deepEqual(
    rolloutPlan({
      flag: "new_checkout",
      stages: [1, 100],
      everyS: 1800,
      onBreach: "pause",
      healthQueries: [{ name: "zeta", sha256: sha("b") }, { name: "alpha", sha256: sha("a") }],
    }),
    {
      flag: "new_checkout",
      stages: [1, 100],
      every_s: 1800,
      on_breach: "pause",
      health: [{ name: "alpha", sha256: sha("a") }, { name: "zeta", sha256: sha("b") }],
    },
  );
});

const base: RolloutState = {
  status: "running",
  nextAdvanceAt: 60_000,
  stageStartedAt: 0,
  sampleEveryMs: 10_000,
  breachAfter: 2,
  streak: 0,
  last: null,
};

Deno.test("nextRolloutMove: samples at once, then waits for the next sample or the stage's end", () => {
  assert.deepEqual(nextRolloutMove(base, 0), { move: "sample" });
  const sampled = { ...base, last: { takenAt: 0, healthy: true } };
  assert.deepEqual(nextRolloutMove(sampled, 4_000), { move: "wait", until: 10_000 });
  assert.deepEqual(nextRolloutMove({ ...sampled, nextAdvanceAt: 5_000 }, 4_000), {
    move: "wait",
    until: 5_000,
  });
});

Deno.test("nextRolloutMove: advances only after the stage's time with a healthy sample of this stage", () => {
  const healthy = { ...base, last: { takenAt: 55_000, healthy: true } };
  assert.deepEqual(nextRolloutMove(healthy, 59_999).move, "wait");
  assert.deepEqual(nextRolloutMove(healthy, 60_000), { move: "advance" });
  // The newest sample is from the previous stage: sample first.
  const old = { ...base, stageStartedAt: 30_000, last: { takenAt: 20_000, healthy: true } };
  assert.deepEqual(nextRolloutMove(old, 60_000), { move: "sample" });
  // Unhealthy but short of a breach: no advance, the next sample on its cadence.
  const sick = { ...base, streak: 1, last: { takenAt: 55_000, healthy: false } };
  assert.deepEqual(nextRolloutMove(sick, 60_000), { move: "wait", until: 65_000 });
  assert.deepEqual(nextRolloutMove(sick, 65_000), { move: "sample" });
});

Deno.test("nextRolloutMove: a breach after breachAfter unhealthy samples; stops when not running", () => {
  const breached = { ...base, streak: 2, last: { takenAt: 1, healthy: false } };
  assert.deepEqual(nextRolloutMove(breached, 2), { move: "breach" });
  assert.deepEqual(nextRolloutMove({ ...breached, status: "paused" }, 2), { move: "stop" });
  assert.deepEqual(nextRolloutMove({ ...base, nextAdvanceAt: null }, 2), { move: "stop" });
});

Deno.test("describeSeconds: as people read durations", () => {
  assert.equal(describeSeconds(45), "45 s");
  assert.equal(describeSeconds(1800), "30 min");
  assert.equal(describeSeconds(7530), "2 h 5 min 30 s");
});
