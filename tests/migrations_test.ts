/**
 * The migrations as the Supabase CLI sees them, on the test stack's staging database (which
 * had only the platform shim before `supabase db push` ran on it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import { run } from "../scripts/local/process.ts";

const env = localEnv("staging");
const dbUrl = `${env.dbUrl}?sslmode=disable`;
const supabase = join(REPO_ROOT, "node_modules/.bin/supabase");

async function migrationFiles(): Promise<string[]> {
  const versions: string[] = [];
  for await (const e of Deno.readDir(join(REPO_ROOT, "supabase/migrations"))) {
    const m = /^(\d{14})_.+\.sql$/.exec(e.name);
    if (m) versions.push(m[1]);
  }
  return versions.sort();
}

Deno.test("supabase db push applies nothing the second time", async () => {
  const { stdout, stderr } = await run(supabase, ["db", "push", "--db-url", dbUrl, "--yes"], {
    cwd: REPO_ROOT,
  });
  const out = stdout + stderr;
  assert.match(out, /Remote database is up to date/);
  assert.doesNotMatch(out, /Applying migration/);
});

Deno.test("supabase migration list shows every migration both local and remote", async () => {
  const { stdout } = await run(supabase, ["migration", "list", "--db-url", dbUrl], {
    cwd: REPO_ROOT,
  });
  const rows = stdout.split("\n")
    .map((line) => line.split("|").map((cell) => cell.replaceAll("`", "").trim()))
    .filter((cells) => cells.length >= 3 && /^\d{14}$/.test(cells[0] || cells[1]));
  const files = await migrationFiles();
  assert.ok(files.length > 0, "no migrations found");
  assert.deepEqual(rows.map(([local]) => local), files);
  assert.deepEqual(rows.map(([, remote]) => remote), files);
});

Deno.test("supabase db lint reports no error on our schema", async () => {
  const { code, stdout, stderr } = await run(
    supabase,
    ["db", "lint", "--db-url", dbUrl, "--level", "warning", "--fail-on", "error"],
    { cwd: REPO_ROOT, check: false },
  );
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout + stderr, /No schema errors found/);
});
