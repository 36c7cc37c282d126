import assert from "node:assert/strict";
import { SAMPLE } from "./fixtures_test.ts";
import { slackMessage } from "./slack.ts";

Deno.test("slackMessage says what happened, where, how risky, and who did it, without links", () => {
  const msg = slackMessage(SAMPLE);
  assert.equal(
    msg.text,
    "Promotion approved: staging → production (promotion 5f0c2b8e-1d2a-4c3b-9e4f-5a6b7c8d9e0f, " +
      "risk high, 3 changes) by ana@example.com",
  );
  assert.deepEqual(msg.blocks.map((b) => b.type), ["header", "section", "context"]);
  const fields = (msg.blocks[1].fields as { text: string }[]).map((f) => f.text);
  assert.deepEqual(fields, [
    "*Promotion*\n5f0c2b8e-1d2a-4c3b-9e4f-5a6b7c8d9e0f",
    "*Route*\nstaging → production",
    "*Risk*\nhigh",
    "*Status*\nawaiting_approval → approved",
    "*By*\nana@example.com",
    "*Changes*\n3 changes (config, tiers)",
    "*Approvals*\n2 of 2",
  ]);
  assert.doesNotMatch(JSON.stringify(msg), /https?:|<http/);
});

Deno.test("slackMessage names the system when nobody acted and shows why a promotion failed", () => {
  const msg = slackMessage({
    ...SAMPLE,
    type: "promotion.failed",
    data: {
      ...SAMPLE.data,
      status: "failed",
      previous_status: "applying",
      actor: null,
      change_count: 1,
      failure: { checks: ["prices <match> source"] },
    },
  });
  assert.match(msg.text, /^Promotion failed: .* 1 change\) by the system$/);
  const why = msg.blocks.find((b) => JSON.stringify(b).includes("Why it failed"));
  assert.ok(why, "a failure section");
  assert.match(JSON.stringify(why), /prices &lt;match&gt; source/);
});
