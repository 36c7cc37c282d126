import assert from "node:assert/strict";
import { HealthQueryError, judge, nextWatchMove, parseHealthQuery } from "./health.ts";

const SHA = "a".repeat(64);

Deno.test("a health query declares its threshold and direction in its header", () => {
  const q = parseHealthQuery(
    "retired_tiers.sql",
    "-- Memberships on retired tiers.\n-- threshold: 0\n-- direction: above\nselect 1",
    SHA,
  );
  assert.deepEqual(
    { name: q.name, threshold: q.threshold, direction: q.direction },
    { name: "retired_tiers", threshold: 0, direction: "above" },
  );
  assert.equal(
    parseHealthQuery("r.sql", "-- threshold: 0.95\n-- direction: below\nx", SHA).threshold,
    0.95,
  );
});

Deno.test("a health query without a threshold or direction is refused naming the file", () => {
  assert.throws(
    () => parseHealthQuery("x.sql", "-- direction: above\nselect 1", SHA),
    (e: Error) => e instanceof HealthQueryError && /x\.sql: no `-- threshold/.test(e.message),
  );
  assert.throws(
    () => parseHealthQuery("x.sql", "-- threshold: many\n-- direction: above\nselect 1", SHA),
    /threshold "many" is not a number/,
  );
  assert.throws(
    () => parseHealthQuery("x.sql", "-- threshold: 1\n-- direction: sideways\nselect 1", SHA),
    /direction "sideways" is not above or below/,
  );
  assert.throws(() =>
    parseHealthQuery("Bad Name.sql", "-- threshold: 1\n-- direction: above\n1", SHA)
  );
});

Deno.test("judge: above or below the threshold; an unmeasured value is unhealthy", () => {
  assert.equal(judge("a", 0, 0, "above").healthy, true);
  assert.equal(judge("a", 1, 0, "above").healthy, false);
  assert.equal(judge("b", 0.9, 0.95, "below").healthy, false);
  assert.equal(judge("b", 0.95, 0.95, "below").healthy, true);
  assert.equal(judge("c", null, 0, "above", "timeout").healthy, false);
  assert.equal(judge("c", null, 0, "above", "timeout").detail, "timeout");
});

Deno.test("nextWatchMove: samples every interval, passes after the window, breaches on a streak", () => {
  const base = { startedAt: 0, until: 30_000, everyMs: 10_000, breachAfter: 2 };
  assert.deepEqual(nextWatchMove({ ...base, samples: 0, streak: 0 }, 4_000), {
    move: "wait",
    ms: 6_000,
  });
  assert.deepEqual(nextWatchMove({ ...base, samples: 0, streak: 0 }, 10_000), { move: "sample" });
  assert.deepEqual(nextWatchMove({ ...base, samples: 2, streak: 0 }, 25_000), {
    move: "wait",
    ms: 5_000,
  });
  // The third sample was at the window's end and healthy: passed at once.
  assert.deepEqual(nextWatchMove({ ...base, samples: 3, streak: 0 }, 30_001), { move: "passed" });
  // One unhealthy sample at the end: sampled on until it clears or breaches.
  assert.deepEqual(nextWatchMove({ ...base, samples: 3, streak: 1 }, 40_000), { move: "sample" });
  assert.deepEqual(nextWatchMove({ ...base, samples: 4, streak: 2 }, 40_000), { move: "breached" });
  // A resumed watch long after: samples once, then decides.
  assert.deepEqual(nextWatchMove({ ...base, samples: 1, streak: 0 }, 90_000), { move: "sample" });
});
