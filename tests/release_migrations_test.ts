/**
 * The release's schema inputs against the test stack: the versions a database has applied,
 * and the lint of this repository's own migrations.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import {
  lintMigrations,
  listMigrations,
  pendingMigrations,
  readAppliedVersions,
} from "../scripts/release/migrations.ts";

const MIGRATIONS = join(REPO_ROOT, "supabase/migrations");
const SQUAWK = join(REPO_ROOT, "node_modules/.bin/squawk");

async function withSql<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

Deno.test("readAppliedVersions reads what supabase db push recorded: nothing is pending on the stack", async () => {
  const all = await listMigrations(MIGRATIONS);
  const applied = await withSql(localEnv("staging").dbUrl, readAppliedVersions);
  assert.deepEqual(applied, all.map((m) => m.version));
  assert.deepEqual(pendingMigrations(all, applied), []);
  assert.deepEqual(
    pendingMigrations(all, applied.slice(0, -2)).map((m) => m.version),
    all.slice(-2).map((m) => m.version),
  );
});

Deno.test("readAppliedVersions of a database that never had a push is empty", async () => {
  const env = localEnv("staging");
  const name = `stagecoach_release_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await withSql(env.dbUrl, (sql) => sql.unsafe(`create database ${name}`));
  try {
    const url = env.dbUrl.replace(/\/postgres$/, `/${name}`);
    assert.deepEqual(await withSql(url, readAppliedVersions), []);
  } finally {
    await withSql(env.dbUrl, (sql) => sql.unsafe(`drop database if exists ${name}`));
  }
});

Deno.test("lintMigrations parses every migration of this repository (none is left unchecked)", async () => {
  const findings = await lintMigrations(await listMigrations(MIGRATIONS), { squawk: SQUAWK });
  assert.deepEqual(findings.filter((f) => f.rule === "syntax-error"), []);
});
