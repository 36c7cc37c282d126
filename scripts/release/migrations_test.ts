import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { tempTree } from "../../tests/fixtures/temp_tree.ts";
import {
  lintMigrations,
  listMigrations,
  type Migration,
  MigrationNameError,
  pendingMigrations,
} from "./migrations.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const SQUAWK = join(REPO, "node_modules/.bin/squawk");

const dirWith = (files: Record<string, string>) => tempTree(files, "stagecoach-migrations-");

const migration = (version: string, name = "m"): Migration => ({
  version,
  name,
  file: `supabase/migrations/${version}_${name}.sql`,
  sha256: "0".repeat(64),
});

Deno.test("listMigrations lists version, name, file and the SHA-256 of the exact bytes, by version", async () => {
  const text = "-- Intent: é\r\ncreate table t (id bigint);\n";
  const dir = await dirWith({
    "20261203000200_second.sql": "select 2;\n",
    "20261203000100_create_t.sql": text,
  });
  await Deno.mkdir(join(dir, "20261203000300_a_folder.sql"));
  const all = await listMigrations(dir);
  assert.deepEqual(all.map((m) => [m.version, m.name, m.file]), [
    ["20261203000100", "create_t", join(dir, "20261203000100_create_t.sql")],
    ["20261203000200", "second", join(dir, "20261203000200_second.sql")],
  ]);
  assert.equal(
    all[0].sha256,
    createHash("sha256").update(new TextEncoder().encode(text)).digest("hex"),
  );
});

Deno.test("listMigrations returns nothing for a missing directory", async () => {
  assert.deepEqual(await listMigrations("/nonexistent/stagecoach/migrations"), []);
});

Deno.test("listMigrations refuses every file the Supabase CLI would skip, naming each", async () => {
  const dir = await dirWith({
    "20261203000100_ok.sql": "select 1;",
    "create_t.sql": "select 1;",
    "20261203000200-dash.sql": "select 1;",
    "20261203000300_notes.txt": "",
    "README.md": "",
  });
  await assert.rejects(listMigrations(dir), (err: Error) => {
    assert.ok(err instanceof MigrationNameError);
    assert.match(err.message, /^Cannot list migrations in .*: /);
    for (
      const n of [
        "create_t.sql",
        "20261203000200-dash.sql",
        "20261203000300_notes.txt",
        "README.md",
      ]
    ) {
      assert.ok(err.message.includes(`${n} is not named <digits>_<name>.sql`), n);
    }
    return true;
  });
});

Deno.test("listMigrations refuses a first init file the CLI skips, and two files of one version", async () => {
  await assert.rejects(
    listMigrations(await dirWith({ "20200101000000_init.sql": "", "20261203000100_x.sql": "" })),
    /20200101000000_init\.sql is skipped by the Supabase CLI/,
  );
  await assert.rejects(
    listMigrations(await dirWith({ "20261203000100_a.sql": "", "20261203000100_b.sql": "" })),
    /20261203000100_a\.sql and 20261203000100_b\.sql share version 20261203000100/,
  );
});

Deno.test("pendingMigrations keeps those not applied, oldest first, versions compared as numbers", () => {
  const all = [migration("3"), migration("10"), migration("2"), migration("0001")];
  assert.deepEqual(pendingMigrations(all, ["1", "3"]).map((m) => m.version), ["2", "10"]);
  assert.deepEqual(pendingMigrations(all, []).map((m) => m.version), ["0001", "2", "3", "10"]);
  assert.deepEqual(pendingMigrations([], ["1"]), []);
});

Deno.test("lintMigrations reports a destructive migration with rule, file, 1-based line and source", async () => {
  const dir = await dirWith({
    "20261203000100_destroy.sql": [
      "-- Intent: clear out the legacy objects.",
      "create table if not exists public.fresh (id bigint primary key, note text);",
      "create index if not exists fresh_note_idx on public.fresh (note);",
      "drop table public.legacy;",
      "alter table public.members drop column nickname;",
      "alter table public.members alter column tier type bigint;",
      "create or replace function public.purge() returns void language sql as $$ delete from public.t $$;",
      "delete from public.audit_copy;",
      "drop schema if exists scratch cascade;",
      "",
    ].join("\n"),
  });
  const files = await listMigrations(dir);
  const findings = await lintMigrations(files, { squawk: SQUAWK });
  const file = files[0].file;
  assert.deepEqual(findings.map((f) => [f.source, f.rule, f.file, f.line]), [
    ["squawk", "ban-drop-table", file, 4],
    ["squawk", "ban-drop-column", file, 5],
    ["squawk", "changing-column-type", file, 6],
    ["stagecoach", "delete-without-where", file, 8],
    ["stagecoach", "drop-schema-cascade", file, 9],
  ]);
  assert.match(findings[0].message, /Dropping a table/);
});

Deno.test("lintMigrations leaves out squawk's style rules and reports a file squawk cannot parse", async () => {
  const dir = await dirWith({
    "20261203000100_style.sql":
      "create table t (id serial primary key, at timestamp, name varchar(10));\n",
    "20261203000200_broken.sql": "select 1;\nselec 2 from;\n",
  });
  const findings = await lintMigrations(await listMigrations(dir), { squawk: SQUAWK });
  assert.deepEqual(findings.map((f) => [f.rule, f.file.split("/").pop(), f.line]), [
    ["syntax-error", "20261203000200_broken.sql", 2],
  ]);
});

Deno.test("lintMigrations of nothing runs nothing; a missing squawk is an error", async () => {
  assert.deepEqual(await lintMigrations([], { squawk: "/nonexistent/squawk" }), []);
  const dir = await dirWith({ "20261203000100_x.sql": "select 1;" });
  await assert.rejects(
    lintMigrations(await listMigrations(dir), { squawk: "/nonexistent/squawk" }),
    /^Error: Cannot lint migrations: cannot run \/nonexistent\/squawk/,
  );
});
