import assert from "node:assert/strict";
import { SAMPLE } from "./fixtures_test.ts";
import { NotificationPayloadSchema } from "./payload.ts";
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

Deno.test("slackMessage announces a security event: what changed, by whom, the details", () => {
  const msg = slackMessage(NotificationPayloadSchema.parse({
    type: "security.policy_changed",
    timestamp: "2026-12-02T10:00:00.000000Z",
    data: {
      environment: "production",
      action: "environment.changed",
      subject: "production",
      details: { before: { high_risk_approvals: 2 }, after: { high_risk_approvals: 3 } },
      actor: { id: "7d3f1b2c-4a5e-4f60-8a7b-9c0d1e2f3a4b", email: "ana@example.com" },
    },
  }));
  assert.equal(
    msg.text,
    "Approval policy changed in production: environment.changed production by ana@example.com",
  );
  assert.match(JSON.stringify(msg.blocks), /high_risk_approvals/);
  assert.doesNotMatch(JSON.stringify(msg), /https?:|<http/);
});

Deno.test("slackMessage reports a release: route, commit, starter and every step", () => {
  const payload = NotificationPayloadSchema.parse({
    type: "release.failed",
    timestamp: "2026-12-02T10:00:00.000000Z",
    data: {
      release_id: "9d7b1c2e-3f4a-4b5c-8d6e-7f8091a2b3c4",
      environment: "production",
      source_env: "staging",
      git_sha: "0123456789abcdef0123",
      status: "failed",
      started_by: "github:acme/app#42 (octocat)",
      promotion_id: null,
      steps: [
        { name: "plan", status: "succeeded", summary: "3 change(s)" },
        { name: "schema_check", status: "failed", summary: "Cannot release: <drift>" },
      ],
    },
  });
  const msg = slackMessage(payload);
  assert.equal(
    msg.text,
    "Release failed: staging → production at 0123456789ab " +
      "(release 9d7b1c2e-3f4a-4b5c-8d6e-7f8091a2b3c4) by github:acme/app#42 (octocat)",
  );
  const steps = JSON.stringify(msg.blocks[2]);
  assert.match(steps, /succeeded plan: 3 change\(s\)/);
  assert.match(steps, /failed {4}schema_check: Cannot release: &lt;drift&gt;/);
});

Deno.test("slackMessage reports a rollout halted by a breach: flag, environment, percent and why", () => {
  const payload = NotificationPayloadSchema.parse({
    type: "rollout.rolled_back",
    timestamp: "2026-12-07T10:00:00.000000Z",
    data: {
      rollout_id: "4f1c2a0e-0000-4000-8000-000000000001",
      environment: "production",
      flag_key: "new_checkout",
      status: "rolled_back",
      percent: 0,
      stages: [1, 5, 25, 50, 100],
      stage_index: 2,
      on_breach: "rollback",
      started_by: "cli:ana@host",
      promotion_id: null,
      halted: { by: "health", breached: [{ seq: 7, percent: 25 }] },
    },
  });
  const m = slackMessage(payload);
  assert.equal(
    m.text,
    "Rollout returned to 0 %: new_checkout in production at 0 % (rollout 4f1c2a0e-0000-4000-8000-000000000001, stages 1,5,25,50,100) by cli:ana@host",
  );
  assert.ok(JSON.stringify(m.blocks).includes("breached"), "the message says why");
  assert.ok(!JSON.stringify(m).includes("http"), "no links");
});
