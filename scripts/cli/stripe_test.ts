import assert from "node:assert/strict";
import { main } from "../stagecoach.ts";
import { summarize } from "./stripe.ts";

Deno.test("stripe reconcile refuses bad options with exit code 2", async () => {
  assert.equal(await main(["stripe", "reconcile"]), 2);
  assert.equal(await main(["stripe", "reconcile", "--env", "nowhere"]), 2);
  assert.equal(await main(["stripe", "reconcile", "--env", "development", "--rate", "0"]), 2);
  assert.equal(
    await main(["stripe", "reconcile", "--env", "development", "--page-size", "1000"]),
    2,
  );
});

Deno.test("summarize lists what changed per kind and what is still wrong", () => {
  const lines = summarize({
    changes: { subscription: { created: 2, unchanged: 5, memberships: 2 } },
    subscriptions_without_membership: 1,
    events_failed: 0,
    rate_limited: 3,
  });
  assert.match(lines[0], /subscription\s+2 created, 5 unchanged, 2 memberships/);
  assert.match(
    lines[1],
    /1 subscription\(s\) without a membership, 0 failed event\(s\); 3 rate-limited/,
  );
});
