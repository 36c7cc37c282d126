import assert from "node:assert/strict";
import { copyOutSql, isInternalSchema, replayableSchema, tolerantRoles } from "./sql.ts";

Deno.test("isInternalSchema follows the Supabase CLI's list", () => {
  for (const s of ["auth", "pg_toast", "cron", "vault", "supabase_migrations"]) {
    assert.ok(isInternalSchema(s), s);
  }
  for (const s of ["public", "ops", "stripe"]) assert.ok(!isInternalSchema(s), s);
});

Deno.test("copyOutSql reads the heap's order, without sorting", () => {
  assert.equal(
    copyOutSql({ schema: "public", name: "t", columns: ["id", "v"] }),
    'copy (select "id", "v" from "public"."t") to stdout',
  );
});

Deno.test("replayableSchema comments meta commands and makes schemas idempotent", () => {
  const out = replayableSchema('\\restrict abc\nCREATE SCHEMA "ops";\nCREATE TRIGGER x', {
    dropTriggers: true,
  });
  assert.equal(out, '-- \\restrict abc\nCREATE SCHEMA IF NOT EXISTS "ops";\n-- CREATE TRIGGER x');
});

Deno.test("tolerantRoles leaves reserved roles alone and wraps the rest", () => {
  const out = tolerantRoles(
    'CREATE ROLE "anon";\nCREATE ROLE "stagecoach_x";\nALTER ROLE "stagecoach_x" WITH NOSUPERUSER LOGIN;\nGRANT "x" TO "postgres";',
  );
  const lines = out.split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0], /execute 'CREATE ROLE "stagecoach_x"'; exception when others/);
  assert.ok(!lines[1].includes("NOSUPERUSER"));
});
