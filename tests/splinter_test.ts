/**
 * Supabase's security advisor (splinter) on our schema, as the dashboard would run it:
 * nothing at level ERROR or WARN. INFO findings (e.g. indexes not used yet on a fresh
 * database) are allowed.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import { runSplinter } from "../scripts/local/splinter.ts";

Deno.test("splinter reports no ERROR or WARN on the migrated schema", async () => {
  const lints = await runSplinter(localEnv("staging").dbUrl);
  const serious = lints.filter((l) => l.level !== "INFO");
  assert.deepEqual(serious, [], JSON.stringify(serious, null, 2));
});

Deno.test("splinter does catch a public table without RLS (the check is live)", async () => {
  const env = localEnv("staging");
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  const table = `splinter_probe_${crypto.randomUUID().slice(0, 8)}`;
  try {
    await sql.unsafe(`create table public.${table} (id int primary key)`);
    const lints = await runSplinter(env.dbUrl);
    assert.ok(
      lints.some((l) => l.name === "rls_disabled_in_public" && l.detail.includes(table)),
      JSON.stringify(lints, null, 2),
    );
  } finally {
    await sql.unsafe(`drop table if exists public.${table}`);
    await sql.end();
  }
});
