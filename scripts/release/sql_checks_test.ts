import assert from "node:assert/strict";
import { findDataLossStatements, findDestructiveStatements, lineComments } from "./sql_checks.ts";

const rulesAndLines = (sql: string) =>
  findDestructiveStatements(sql).map((f) => `${f.rule}@${f.line}`);

Deno.test("findDestructiveStatements finds a DELETE without WHERE on its line, not one with WHERE", () => {
  const sql = [
    "-- Intent: tidy up",
    "delete from public.t where id = 1;",
    "",
    "delete",
    "  from public.t;",
  ].join("\n");
  const findings = findDestructiveStatements(sql);
  assert.deepEqual(findings, [{
    rule: "delete-without-where",
    line: 4,
    message: "DELETE without WHERE removes every row of the table: delete from public.t",
  }]);
});

Deno.test("findDestructiveStatements finds UPDATE without WHERE, ignoring a WHERE inside a subquery", () => {
  const sql = [
    "update t set a = 1 where b;",
    "update t set a = (select x from u where u.id = 1);",
    "update t set a = 1 from u where u.id = t.id;",
    "update only t as x set a = 2 returning *;",
  ].join("\n");
  assert.deepEqual(rulesAndLines(sql), ["update-without-where@2", "update-without-where@4"]);
});

Deno.test("findDestructiveStatements finds TRUNCATE and DROP SCHEMA … CASCADE, not DROP SCHEMA alone", () => {
  const sql = [
    "truncate table a, b restart identity;",
    "drop schema if exists old;",
    "drop schema if exists older cascade;",
    "TRUNCATE c CASCADE;",
  ].join("\n");
  assert.deepEqual(rulesAndLines(sql), [
    "truncate@1",
    "drop-schema-cascade@3",
    "truncate@4",
  ]);
});

Deno.test("findDestructiveStatements ignores comments, strings, quoted identifiers and function bodies", () => {
  const sql = [
    "-- delete from t;",
    "/* truncate t; /* nested */ delete from t; */",
    "select 'delete from t;', E'it\\'s; delete from t', \"delete from t;\";",
    "comment on table t is 'truncate t; update t set a = 1;';",
    "create or replace function f() returns void language plpgsql as $$",
    "begin",
    "  delete from t;",
    "end;",
    "$$;",
    "create function g() returns void language sql as $body$ truncate t $body$;",
    "create function h() returns void language sql begin atomic delete from t; end;",
  ].join("\n");
  assert.deepEqual(findDestructiveStatements(sql), []);
});

Deno.test("findDestructiveStatements ignores keywords that do not begin a statement", () => {
  const sql = [
    "grant select, insert, update, delete, truncate on t to service_role;",
    "revoke delete on t from anon;",
    "alter table t add constraint f foreign key (a) references u on delete cascade on update cascade;",
    "create trigger x before insert or update or delete on t for each row execute function f();",
    "create trigger y before truncate on t execute function g();",
    "select * from t for update;",
    "insert into t values (1) on conflict (id) do update set a = excluded.a;",
    "create policy p on t for delete to authenticated using (true);",
  ].join("\n");
  assert.deepEqual(findDestructiveStatements(sql), []);
});

Deno.test("findDestructiveStatements scans DO blocks, which the migration runs", () => {
  const sql = [
    "do $$",
    "declare n int;",
    "begin",
    "  delete from t where id = 1;",
    "  if n > 0 then",
    "    delete from t;",
    "  else update t set a = 1;",
    "  end if;",
    "  perform 'truncate t';",
    "  execute 'delete from t';",
    "end",
    "$$;",
  ].join("\n");
  assert.deepEqual(rulesAndLines(sql), ["delete-without-where@6", "update-without-where@7"]);
});

Deno.test("findDestructiveStatements finds a DELETE without WHERE in a CTE", () => {
  const sql = "with gone as (\n  delete from t returning id\n) select count(*) from gone;\n" +
    "with kept as materialized (delete from t where a returning id) select 1;";
  assert.deepEqual(rulesAndLines(sql), ["delete-without-where@2"]);
});

Deno.test("findDestructiveStatements counts lines past multi-byte characters and dollar tags", () => {
  const sql = "-- Intent: a → b…\nselect $tag$ ; $$ ; $tag$;\nselect $1;\ntruncate t;";
  assert.deepEqual(rulesAndLines(sql), ["truncate@4"]);
});

Deno.test("findDestructiveStatements reads an unterminated string or comment to the end, finding nothing in it", () => {
  assert.deepEqual(findDestructiveStatements("select 'abc; delete from t;"), []);
  assert.deepEqual(findDestructiveStatements("/* delete from t;"), []);
  assert.deepEqual(findDestructiveStatements("select $$ delete from t;"), []);
});

const lossAt = (sql: string) => findDataLossStatements(sql).map((f) => `${f.rule}@${f.line}`);

Deno.test("findDataLossStatements finds every statement that may lose data, on its line", () => {
  const sql = [
    "drop table if exists ops.old_table;",
    "alter table ops.t drop column note;",
    "alter table only ops.t drop if exists other, add column x int;",
    "alter table ops.t alter column amount type integer;",
    "alter table ops.t alter amount set data type smallint using amount::smallint;",
    "drop schema legacy cascade;",
    "drop type ops.kind cascade;",
    "truncate ops.t;",
    "delete from ops.t where id = 1;",
  ].join("\n");
  assert.deepEqual(lossAt(sql), [
    "drop-table@1",
    "drop-column@2",
    "drop-column@3",
    "alter-column-type@4",
    "alter-column-type@5",
    "drop-schema@6",
    "drop-type-cascade@7",
    "truncate@8",
    "delete@9",
  ]);
  assert.equal(
    findDataLossStatements("alter table ops.t drop column note;")[0].message,
    "ALTER TABLE … DROP COLUMN removes the column's values: alter table ops.t drop column note",
  );
});

Deno.test("findDataLossStatements finds nothing in what loses no data", () => {
  const sql = [
    "alter table ops.t drop constraint if exists t_check;",
    "alter table ops.t alter column note drop default, alter column note drop not null;",
    "alter table ops.t alter column type set not null;", // a column named "type"
    'alter table "drop".t add column x int;',
    "drop function if exists ops.f(int);",
    "drop index ops.t_idx;",
    "drop type ops.kind;",
    "drop schema if exists flags;", // refused by Postgres while the schema holds anything
    'drop policy "members read" on ops.t;',
    "revoke delete on ops.t from anon;",
    "alter type ops.kind add value 'x';",
  ].join("\n");
  assert.deepEqual(lossAt(sql), []);
});

Deno.test("findDataLossStatements is not fooled by comments, strings and function bodies; scans DO blocks", () => {
  const sql = [
    "-- drop table t;",
    "/* alter table t drop column c; */",
    "select 'delete from t;';",
    "create function f() returns void language sql as $$ delete from t $$;",
    "do $$ begin",
    "  alter table t drop column c;",
    "end $$;",
  ].join("\n");
  assert.deepEqual(lossAt(sql), ["drop-column@6"]);
});

Deno.test("lineComments reads the file's own -- comments, not those inside strings or bodies", () => {
  const sql = [
    "-- Reverts 1: the first",
    "select '-- not a comment';",
    "create function f() returns int language sql as $$",
    "  -- in a body",
    "  select 1",
    "$$;",
    "drop table t; --   stagecoach: loses-data t's rows  ",
    "/* -- in a block */",
  ].join("\n");
  assert.deepEqual(lineComments(sql), [
    { line: 1, text: "Reverts 1: the first" },
    { line: 7, text: "stagecoach: loses-data t's rows" },
  ]);
});
