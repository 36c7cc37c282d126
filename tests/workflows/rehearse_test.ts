import assert from "node:assert/strict";
import { LOCAL_ACTIONS, type RehearsalOptions, rehearseJob } from "./rehearse.ts";

const FIXTURE = "tests/workflows/fixtures/harness.yml";

function rehearse(job: string, options: Partial<RehearsalOptions> = {}) {
  return rehearseJob({ workflow: FIXTURE, job, ...options });
}

Deno.test("rehearseJob passes outputs, env files, PATH and summaries between steps", async () => {
  const r = await rehearse("produce", { secrets: { TOKEN: "t0k" } });
  assert.equal(r.result, "success");
  assert.deepEqual(r.steps.map((s) => [s.id ?? s.name, s.conclusion]), [
    ["actions/checkout@v4", "success"],
    ["one", "success"],
    ["two", "success"],
    ["dispatch-only", "skipped"],
  ]);
  // step env over job env over workflow env; the secret reached the step
  assert.equal(r.outputs.single, "wf-job-step-t0k");
  assert.equal(r.outputs.multi, "line 1\nline 2");
  assert.equal(r.env.FROM_ENV_FILE, "set by one");
  assert.equal(r.path.length, 1);
  // $GITHUB_ENV and $GITHUB_PATH reach later steps; the job's env still wins over $GITHUB_ENV
  assert.equal(r.steps[2].outputs.seen, "set by one|tool ran|wf-job-step-t0k|job");
  assert.equal(r.summary, "## Step one\nci=true event=push\n");
});

Deno.test("rehearseJob fills workflow_dispatch inputs with their declared defaults", async () => {
  const byDefault = await rehearse("produce", { event: { name: "workflow_dispatch" } });
  assert.equal(byDefault.steps[3].outputs.greeting, "hello");
  const given = await rehearse("produce", {
    event: { name: "workflow_dispatch" },
    inputs: { greeting: "hi" },
  });
  assert.equal(given.steps[3].outputs.greeting, "hi");
  await assert.rejects(rehearse("produce", { inputs: { nope: "x" } }), /declares no input nope/);
});

Deno.test("rehearseJob hands needs outputs to a dependent job, multi-line intact", async () => {
  const produce = await rehearse("produce");
  const consume = await rehearse("consume", { needs: { produce } });
  assert.equal(consume.steps[0].outputs.lines, "2");
  await assert.rejects(rehearse("consume"), /needs produce/);
});

Deno.test("rehearseJob stops at a failing step; always() and failure() still run", async () => {
  const r = await rehearse("failing");
  assert.equal(r.result, "failure");
  const byId = Object.fromEntries(r.steps.map((s) => [s.id, s]));
  assert.deepEqual([byId.tolerated.outcome, byId.tolerated.conclusion], ["failure", "success"]);
  assert.equal(byId.tolerated.exitCode, 4);
  assert.equal(byId.fails.exitCode, 1);
  assert.equal(byId.fails.stdout, "before\n", "bash -e stops at the failing command");
  assert.equal(byId.after.outcome, "skipped");
  assert.equal(byId.cleanup.outputs.saw, "failure/success");
  assert.equal(byId["on-failure"].outputs.ran, "yes");
});

Deno.test("rehearseJob fails a step whose $GITHUB_OUTPUT lacks the closing delimiter", async () => {
  const r = await rehearse("bad-output-file");
  assert.equal(r.result, "failure");
  assert.match(r.steps[0].error ?? "", /GITHUB_OUTPUT: no line EOF closes notes/);
});

Deno.test("rehearseJob skips a job whose if: is false", async () => {
  const r = await rehearse("dispatch-only-job");
  assert.equal(r.result, "skipped");
  assert.deepEqual(r.steps, []);
});

Deno.test("rehearseJob refuses a uses: missing from the table and unmodelled expressions", async () => {
  const r = await rehearse("unknown-action");
  assert.equal(r.result, "failure");
  assert.match(r.steps[0].error ?? "", /actions\/cache@v4: it is not in the LOCAL_ACTIONS table/);
  assert.equal("actions/cache@v4" in LOCAL_ACTIONS, false);
  await assert.rejects(rehearse("unmodelled-expression"), /github\.actor/);
});

Deno.test("rehearseJob refuses a workflow GitHub's parser refuses", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/broken.yml`,
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n        nope: 1\n",
    );
    await assert.rejects(
      rehearseJob({ workflow: `${dir}/broken.yml`, job: "a" }),
      /Unexpected value 'nope'/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the local App Platform deploy validates .do/app.yaml and builds the status page and the console", async () => {
  const vars = {
    FUNCTIONS_URL: "http://127.0.0.1:54331/functions/v1",
    API_URL: "http://127.0.0.1:54331",
  };
  const ok = await rehearse("deploy-status", {
    secrets: { ANON_KEY: "anon", DIGITALOCEAN_ACCESS_TOKEN: "dop_v1_test" },
    vars,
  });
  assert.equal(ok.result, "success", ok.steps[0].error);
  const app = JSON.parse(ok.steps[0].outputs.app);
  assert.equal(app.spec.name, "stagecoach-status-staging");
  assert.equal(app.spec.static_sites[0].github.repo, "stagecoach/stagecoach");
  const html = await Deno.readTextFile("web/status/dist/index.html");
  assert.match(html, /"functionsUrl":"http:\/\/127\.0\.0\.1:54331\/functions\/v1"/);
  assert.deepEqual(app.spec.static_sites.map((s: { name: string }) => s.name), [
    "status",
    "console",
  ]);
  const console = await Deno.readTextFile("console/dist/index.html");
  assert.match(console, /"env":"staging","supabaseUrl":"http:\/\/127\.0\.0\.1:54331"/);
  assert.match(console, /src="\/console\/console\.js"/, "its files under its route");

  const unset = await rehearse("deploy-status", {
    secrets: { DIGITALOCEAN_ACCESS_TOKEN: "dop_v1_test" },
    vars,
  });
  assert.match(unset.steps[0].error ?? "", /STATUS_ANON_KEY, unset in the step/);
  const noToken = await rehearse("deploy-status", { secrets: { ANON_KEY: "anon" } });
  assert.match(noToken.steps[0].error ?? "", /token is required/);
});
