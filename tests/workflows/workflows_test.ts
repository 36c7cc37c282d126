import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parse } from "yaml";
import { LOCAL_ACTIONS } from "./rehearse.ts";
import { splitTemplate } from "./expressions.ts";
import { runBlocks, type Workflow, workflowErrors } from "./workflow_file.ts";

const WORKFLOWS = fileURLToPath(new URL("../../.github/workflows/", import.meta.url));
const PACKAGE = fileURLToPath(new URL("../../package.json", import.meta.url));

async function workflows(): Promise<{ file: string; content: string; workflow: Workflow }[]> {
  const out = [];
  for await (const entry of Deno.readDir(WORKFLOWS)) {
    if (!/\.ya?ml$/.test(entry.name)) continue;
    const content = await Deno.readTextFile(join(WORKFLOWS, entry.name));
    out.push({ file: entry.name, content, workflow: parse(content) as Workflow });
  }
  assert.ok(out.length >= 3, "ci.yml, release-staging.yml, release-production.yml");
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

Deno.test("every workflow passes GitHub's workflow parser with zero errors", async () => {
  for (const { file, content } of await workflows()) {
    assert.deepEqual(await workflowErrors(file, content), [], file);
  }
});

Deno.test("GitHub's workflow parser refuses broken workflows, naming the problem", async () => {
  const job = "jobs:\n  a:\n    runs-on: ubuntu-latest\n";
  const cases: [string, RegExp][] = [
    [`on: push\n${job}    if: \${{ secrets.X != '' }}\n    steps:\n      - run: x\n`, /secrets/],
    [`on: push\n${job}    steps:\n      - run: x\n        shel: bash\n`, /Unexpected value 'shel'/],
    [`on: pusj\n${job}    steps:\n      - run: x\n`, /pusj/],
    [
      `on: push\n${job}    steps:\n      - run: x\n  b:\n    runs-on: ubuntu-latest\n` +
      `    needs: [nope]\n    steps:\n      - run: x\n`,
      /nope/,
    ],
    [`on: push\n${job}    steps:\n      - run: echo \${{ github.sha \n`, /./],
  ];
  for (const [content, message] of cases) {
    const errors = await workflowErrors("broken.yml", content);
    assert.ok(errors.some((e) => message.test(e)), `${content}\n→ ${errors.join("; ")}`);
  }
});

Deno.test("every run: block passes shellcheck (expressions replaced as GitHub would)", async () => {
  for (const { file, workflow } of await workflows()) {
    for (const block of runBlocks(workflow)) {
      // GitHub substitutes ${{ … }} before the shell sees the script.
      const script = splitTemplate(block.script)
        .map((p) => (p.kind === "text" ? p.value : "EXPRESSION_VALUE"))
        .join("");
      assert.ok(["bash", "sh"].includes(block.shell), `${file} ${block.step}: ${block.shell}`);
      const child = new Deno.Command("shellcheck", {
        args: ["--shell", block.shell, "--format", "gcc", "-"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(script));
      await writer.close();
      const { code, stdout, stderr } = await child.output();
      const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, `${file} › ${block.job} › ${block.step}:\n${out}`);
    }
  }
});

Deno.test("shellcheck itself flags a broken block (the check is live)", async () => {
  const { code } = await new Deno.Command("bash", {
    args: ["-c", 'printf "%s\\n" "echo \\$UNQUOTED_PATH_VAR/x; cd \\$DIR" | shellcheck -s bash -'],
    stdout: "null",
    stderr: "null",
  }).output();
  assert.notEqual(code, 0);
});

Deno.test("run: blocks never interpolate ${{ }}: values reach scripts through env:", async () => {
  for (const { file, workflow } of await workflows()) {
    for (const block of runBlocks(workflow)) {
      assert.ok(!block.script.includes("${{"), `${file} › ${block.job} › ${block.step}`);
    }
  }
});

Deno.test("every uses: is pinned as in the rehearsal's LOCAL_ACTIONS table", async () => {
  for (const { file, workflow } of await workflows()) {
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps ?? []) {
        if (step.uses) assert.ok(step.uses in LOCAL_ACTIONS, `${file}: ${step.uses}`);
      }
    }
  }
});

Deno.test("workflows read contents only; setup-cli pins the CLI version package.json pins", async () => {
  const pinned = JSON.parse(await Deno.readTextFile(PACKAGE)).devDependencies.supabase;
  for (const { file, workflow } of await workflows()) {
    assert.deepEqual((workflow as unknown as { permissions: unknown }).permissions, {
      contents: "read",
    }, file);
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps ?? []) {
        if (step.uses?.startsWith("supabase/setup-cli@")) {
          assert.equal(String(step.with?.version), pinned, file);
        }
      }
    }
  }
});

Deno.test("release jobs run one at a time per environment and are never cancelled", async () => {
  const all = await workflows();
  const jobs = all.filter((w) => w.file.startsWith("release-"))
    .flatMap(({ file, workflow }) =>
      Object.entries(workflow.jobs).map(([id, job]) => ({
        at: `${file} › ${id}`,
        concurrency: (job.concurrency ?? (workflow as unknown as Record<string, unknown>)
          .concurrency) as { group: string; "cancel-in-progress": boolean },
      }))
    );
  assert.equal(jobs.length, 3);
  for (const { at, concurrency } of jobs) {
    assert.ok(concurrency?.group, `${at}: a concurrency group`);
    assert.equal(concurrency["cancel-in-progress"], false, at);
  }
});
