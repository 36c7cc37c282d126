/**
 * The rollout routes of the `ops` API against the running test stack's production, per role:
 * members read (list and one rollout, with what they may do now); operators and admins pause,
 * resume and abort, audited with the actor and their comment; viewers, approvers and
 * non-members are refused by the database and nothing changes. The CLI's `rollout
 * status|list|pause|resume|abort` reach a hosted project (here: production described by its API
 * URL and a token alone) through these routes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import { actorEmail, withHarness } from "./promotion_helpers.ts";
import { flagPercent, runningRollout } from "./rollout_helpers.ts";

Deno.test("rollout routes: members read, operators and admins pause / resume / abort, others are refused", async () => {
  await withHarness(async (h) => {
    const r = await runningRollout(h);
    try {
      // Reads, as a viewer: the list (filtered) and the rollout with its promotion.
      const list = await h.call(
        "production",
        "viewer",
        `/rollouts?flag=${r.flag}&status=running&limit=5`,
      );
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.body.rollouts.map((x: { id: string }) => x.id), [r.id]);
      const none = await h.call("production", "viewer", `/rollouts?flag=${r.flag}&status=paused`);
      assert.deepEqual(none.body.rollouts, []);
      const shown = await h.call("production", "viewer", `/rollouts/${r.id}`);
      assert.equal(shown.status, 200, shown.text);
      assert.equal(shown.body.rollout.status, "running");
      assert.deepEqual(shown.body.rollout.stages, [5, 25, 100]);
      assert.equal(shown.body.rollout.percent, 5);
      assert.ok(shown.body.rollout.next_advance_at, "the next advance is shown");
      assert.equal(shown.body.promotion.id, r.promotionId);
      assert.equal(shown.body.promotion.approved_by.length, 2, "two approvers, by email");
      assert.match(shown.body.promotion.approved_by[0], /@stagecoach\.test$/);
      assert.deepEqual(
        Object.values(shown.body.actions).map((a) => (a as { code: string }).code),
        ["role", "role", "role"],
        "a viewer may do nothing",
      );

      // Refused: a viewer's and an approver's forged pause, a non-member's abort.
      for (const who of ["viewer", "approver"] as const) {
        const forged = await h.call("production", who, `/rollouts/${r.id}/pause`, { body: {} });
        assert.equal(forged.status, 403, forged.text);
        assert.equal(forged.body.error.code, "forbidden");
        assert.match(forged.body.error.message, /only operators and admins may/);
      }
      const outsider = await h.call("production", "outsider", `/rollouts/${r.id}/abort`, {
        body: {},
      });
      assert.equal(outsider.status, 403, outsider.text);
      const hidden = await h.call("production", "outsider", `/rollouts/${r.id}`);
      assert.equal(hidden.status, 404, "a non-member reads nothing");
      const outsiderList = await h.call("production", "outsider", `/rollouts?flag=${r.flag}`);
      assert.deepEqual(outsiderList.body.rollouts, []);
      assert.equal(await flagPercent(h, r.flag), 5, "nothing changed");

      // Bad input: named, nothing written.
      const badId = await h.call("production", "operator", "/rollouts/nope/pause", { body: {} });
      assert.equal(badId.status, 400, badId.text);
      const badStatus = await h.call("production", "viewer", "/rollouts?status=sleeping");
      assert.equal(badStatus.status, 400, badStatus.text);
      const long = await h.call("production", "operator", `/rollouts/${r.id}/pause`, {
        body: { comment: "x".repeat(2001) },
      });
      assert.equal(long.status, 400, long.text);
      const missing = await h.call(
        "production",
        "operator",
        `/rollouts/${crypto.randomUUID()}/pause`,
        { body: {} },
      );
      assert.equal(missing.status, 404, missing.text);

      // Allowed: the operator pauses with a comment; the admin resumes; the operator aborts.
      const before = await h.call("production", "operator", `/rollouts/${r.id}`);
      assert.equal(before.body.actions.pause.allowed, true);
      assert.equal(before.body.actions.resume.code, "status");
      const paused = await h.call("production", "operator", `/rollouts/${r.id}/pause`, {
        body: { comment: "error rate up" },
      });
      assert.equal(paused.status, 200, paused.text);
      assert.equal(paused.body.rollout.status, "paused");
      assert.equal(paused.body.rollout.halted.by, actorEmail("operator"));
      assert.equal(paused.body.rollout.halted.comment, "error rate up");
      const [audit] = await h.db.production<{ actor: string; actor_role: string }[]>`
        select actor::text, actor_role from ops.audit_log
        where action = 'rollout.paused' and subject_id = ${r.id}`;
      assert.deepEqual(audit, {
        actor: await h.userId("production", "operator"),
        actor_role: "operator",
      });
      const resumed = await h.call("production", "admin", `/rollouts/${r.id}/resume`, {
        body: {},
      });
      assert.equal(resumed.status, 200, resumed.text);
      assert.equal(resumed.body.rollout.status, "running");
      const aborted = await h.call("production", "operator", `/rollouts/${r.id}/abort`, {
        body: { comment: "not today" },
      });
      assert.equal(aborted.status, 200, aborted.text);
      assert.equal(aborted.body.rollout.status, "aborted");
      assert.equal(await flagPercent(h, r.flag), 0, "the flag is back to 0 %");
      const again = await h.call("production", "operator", `/rollouts/${r.id}/pause`, {
        body: {},
      });
      assert.equal(again.status, 409, again.text);
      assert.match(again.body.error.message, /it is aborted/);
      const after = await h.call("production", "admin", `/rollouts/${r.id}`);
      assert.equal(after.body.actions.abort.code, "status");
    } finally {
      await r.cleanup();
    }
  });
});

/** Runs the CLI with production described only by its API URL and a user's token. */
async function hostedCli(args: string[], token: string) {
  const nowhere = await Deno.makeTempDir({ prefix: "stagecoach-no-stack-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
      cwd: REPO_ROOT,
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/root",
        DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache/deno"),
        NO_COLOR: "1",
        // No stack to fall back to, and no database URL: the API URL and the token only.
        STAGECOACH_HOME: join(nowhere, "missing"),
        STAGECOACH_PORT_OFFSET: "4999",
        STAGECOACH_PRODUCTION_API_URL: localEnv("production").apiUrl,
        STAGECOACH_TOKEN: token,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    await Deno.remove(nowhere, { recursive: true });
  }
}

Deno.test("rollout status|list|pause|resume|abort reach a hosted project through the API with only its URL and a token", async () => {
  await withHarness(async (h) => {
    const r = await runningRollout(h);
    try {
      const operator = await h.token("production", "operator");
      const viewer = await h.token("production", "viewer");
      const env = ["--env", "production"];

      const status = await hostedCli(["rollout", "status", r.flag, ...env], viewer);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /running at 5 %/);
      assert.match(status.stdout, /stages: +\[5\] → 25 → 100 %/);
      assert.match(status.stdout, new RegExp(`promotion ${r.promotionId}`));
      const list = await hostedCli(["rollout", "list", ...env], viewer);
      assert.match(list.stdout, new RegExp(`${r.flag.replace(".", "\\.")}  running at 5 %`));

      const refused = await hostedCli(["rollout", "pause", r.flag, ...env], viewer);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /only operators and admins may/);
      assert.equal(await flagPercent(h, r.flag), 5, "nothing changed");

      const paused = await hostedCli(["rollout", "pause", r.flag, ...env], operator);
      assert.equal(paused.code, 0, paused.stderr);
      assert.match(paused.stdout, /paused at 5 %/);
      assert.match(paused.stdout, new RegExp(`halted: +pause by ${actorEmail("operator")}`));
      const resumed = await hostedCli(["rollout", "resume", r.id, ...env, "--json"], operator);
      assert.equal(JSON.parse(resumed.stdout).status, "running", resumed.stderr);
      const aborted = await hostedCli(["rollout", "abort", r.flag, ...env], operator);
      assert.match(aborted.stdout, /aborted at 0 %/, aborted.stderr);
      assert.equal(await flagPercent(h, r.flag), 0);
      const unknown = await hostedCli(["rollout", "status", "no_such.flag", ...env], viewer);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /Cannot find a rollout "no_such\.flag"/);
    } finally {
      await r.cleanup();
    }
  });
});
