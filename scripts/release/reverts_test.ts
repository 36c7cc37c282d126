import assert from "node:assert/strict";
import { join } from "node:path";
import type { PendingMigration } from "../../supabase/functions/_shared/promotion/schema.ts";
import { tempTree } from "../../tests/fixtures/temp_tree.ts";
import type { Migration } from "./migrations.ts";
import {
  inspectRevert,
  pairReverts,
  parseBaseline,
  readReverts,
  revertDrift,
  TRANSIENT_REASON_RULE,
  UNKNOWN_MARKER_RULE,
  UNMARKED_RULE,
} from "./reverts.ts";

const SHA = "a".repeat(64);
const SHA2 = "b".repeat(64);

function migration(version: string, name: string, dir = "supabase/migrations"): Migration {
  return { version, name, file: `${dir}/${version}_${name}.sql`, sha256: SHA };
}

Deno.test("parseBaseline reads the one version, skipping # comments and blank lines", () => {
  assert.equal(parseBaseline("# the last one\n\n20261203001100\n"), "20261203001100");
  assert.throws(() => parseBaseline("# nothing\n"), /Cannot read the rollback baseline: .*none/);
  assert.throws(() => parseBaseline("1\n2\n"), /Cannot read the rollback baseline: .*"1 2"/);
  assert.throws(() => parseBaseline("latest\n"), /expected one migration version/);
});

Deno.test("inspectRevert: a DROP COLUMN without the marker is a blocking stagecoach finding", () => {
  const sql = "-- Reverts 2: the note column\nalter table ops.t drop column note;\n";
  const r = inspectRevert(sql, "supabase/rollbacks/2_add_note.sql");
  assert.equal(r.loses_data, false);
  assert.equal(r.reason, undefined);
  assert.equal(r.findings.length, 1);
  assert.deepEqual({ ...r.findings[0], message: "" }, {
    rule: UNMARKED_RULE,
    file: "supabase/rollbacks/2_add_note.sql",
    line: 2,
    message: "",
    source: "stagecoach",
  });
  assert.match(r.findings[0].message, /DROP COLUMN .*-- stagecoach: loses-data <why>/);
});

Deno.test("inspectRevert: with the marker anywhere, the revert loses data and says why", () => {
  const sql = [
    "alter table ops.t drop column note; -- stagecoach: loses-data the notes written since",
    "drop table ops.u;",
    "--stagecoach: loses-data",
  ].join("\n");
  assert.deepEqual(inspectRevert(sql, "r.sql"), {
    loses_data: true,
    reason: "the notes written since",
    findings: [],
  });
  assert.deepEqual(inspectRevert("-- stagecoach: loses-data\nselect 1;", "r.sql"), {
    loses_data: true,
    findings: [],
  });
});

Deno.test("inspectRevert: a marker inside a string or a function body does not count", () => {
  const sql = [
    "select '-- stagecoach: loses-data';",
    "create function f() returns int language sql as $$",
    "-- stagecoach: loses-data",
    "select 1 $$;",
    "truncate ops.t;",
  ].join("\n");
  const r = inspectRevert(sql, "r.sql");
  assert.equal(r.loses_data, false);
  assert.deepEqual(r.findings.map((f) => `${f.rule}@${f.line}`), [`${UNMARKED_RULE}@5`]);
});

Deno.test("inspectRevert: a misspelt marker is a finding, and does not mark the revert", () => {
  const r = inspectRevert("-- stagecoach: lose-data oops\nselect 1;\n", "r.sql");
  assert.equal(r.loses_data, false);
  assert.deepEqual(r.findings.map((f) => `${f.rule}@${f.line}`), [`${UNKNOWN_MARKER_RULE}@1`]);
});

Deno.test("inspectRevert: a transient marker with its reason runs the revert and says why", () => {
  const sql = [
    "-- Reverts 7: the scratch table",
    "-- stagecoach: transient fingerprints a running job rebuilds from the source",
    "drop table if exists private.scratch;",
    "delete from private.other_scratch;",
  ].join("\n");
  assert.deepEqual(inspectRevert(sql, "r.sql"), {
    loses_data: false,
    reason: "transient: fingerprints a running job rebuilds from the source",
    findings: [],
  });
});

Deno.test("inspectRevert: a transient marker without a reason is a finding and covers nothing", () => {
  const r = inspectRevert("-- stagecoach: transient\ndrop table t;\n", "r.sql");
  assert.equal(r.loses_data, false);
  assert.equal(r.reason, undefined);
  assert.deepEqual(r.findings.map((f) => `${f.rule}@${f.line}`), [
    `${TRANSIENT_REASON_RULE}@1`,
    `${UNMARKED_RULE}@2`,
  ]);
  assert.match(r.findings[0].message, /needs its reason/);
});

Deno.test("inspectRevert: with both markers, loses-data wins", () => {
  const sql =
    "-- stagecoach: transient a cache\n-- stagecoach: loses-data the notes\ndrop table t;";
  assert.deepEqual(inspectRevert(sql, "r.sql"), {
    loses_data: true,
    reason: "the notes",
    findings: [],
  });
});

Deno.test("inspectRevert: a revert that loses nothing has no finding", () => {
  const sql = "alter table t drop constraint c;\nalter table t add constraint c check (true);\n" +
    "drop function if exists f();\n";
  assert.deepEqual(inspectRevert(sql, "r.sql"), { loses_data: false, findings: [] });
});

Deno.test("pairReverts pairs by version and name, and names each problem", () => {
  const migrations = [
    migration("100", "old"),
    migration("200", "at_baseline"),
    migration("300", "has_revert"),
    migration("400", "without_revert"),
    migration("500", "renamed"),
  ];
  const reverts = [
    migration("200", "at_baseline", "supabase/rollbacks"),
    migration("300", "has_revert", "supabase/rollbacks"),
    migration("500", "old_name", "supabase/rollbacks"),
    migration("600", "no_migration", "supabase/rollbacks"),
  ];
  const { pairs, problems } = pairReverts(migrations, reverts, { baseline: "200" });
  assert.deepEqual(pairs.map((p) => p.revert?.file ?? null), [
    null,
    null,
    "supabase/rollbacks/300_has_revert.sql",
    null,
    null,
  ]);
  assert.deepEqual(problems.map((p) => `${p.kind} ${p.file}`), [
    "missing supabase/migrations/400_without_revert.sql",
    "missing supabase/migrations/500_renamed.sql",
    "baseline supabase/rollbacks/200_at_baseline.sql",
    "orphan supabase/rollbacks/500_old_name.sql",
    "orphan supabase/rollbacks/600_no_migration.sql",
  ]);
  assert.match(problems[0].message, /write supabase\/rollbacks\/400_without_revert\.sql/);
  assert.match(problems[3].message, /version 500 is supabase\/migrations\/500_renamed\.sql/);
});

Deno.test("revertDrift names a revert edited, added or removed since approval", () => {
  const pm = (name: string, revert: PendingMigration["revert"]): PendingMigration => ({
    version: "300",
    name,
    sha256: SHA,
    findings: [],
    ...(revert === undefined ? {} : { revert }),
  });
  const r = (sha256: string) => ({
    file: "supabase/rollbacks/300_x.sql",
    sha256,
    loses_data: false,
  });
  assert.deepEqual(revertDrift([pm("x", r(SHA))], [pm("x", r(SHA))]), []);
  assert.deepEqual(revertDrift([pm("x", r(SHA))], [pm("x", r(SHA2))]), [
    "300_x: revert script edited since approval (SHA-256 differs)",
  ]);
  assert.deepEqual(revertDrift([pm("x", null)], [pm("x", r(SHA))]), [
    "300_x: revert script added since approval",
  ]);
  assert.deepEqual(revertDrift([pm("x", r(SHA))], [pm("x", null)]), [
    "300_x: revert script removed since approval",
  ]);
  // A plan made before reverts were planned has no `revert`: nothing to compare.
  assert.deepEqual(revertDrift([pm("x", undefined)], [pm("x", r(SHA2))]), []);
  // A migration no longer pending is schemaDrift's to report.
  assert.deepEqual(revertDrift([pm("x", r(SHA))], []), []);
});

Deno.test("readReverts reads the baseline, pairs files and hashes each revert's bytes", async () => {
  const root = await tempTree({
    "supabase/migrations/100_create_t.sql": "create table t (id int);\n",
    "supabase/migrations/200_add_note.sql": "alter table t add column note text;\n",
    "supabase/migrations/300_add_flag.sql": "alter table t add column flag bool;\n",
    "supabase/rollbacks/BASELINE": "# last without\n100\n",
    "supabase/rollbacks/README.md": "# how\n",
    "supabase/rollbacks/200_add_note.sql":
      "alter table t drop column note; -- stagecoach: loses-data notes\n",
    "supabase/rollbacks/300_add_flag.sql": "alter table t drop column flag;\n",
  }, "stagecoach-reverts-test-");
  try {
    const report = await readReverts(root);
    assert.equal(report.baseline, "100");
    assert.deepEqual(report.problems, []);
    const [first, second, third] = report.migrations;
    assert.equal(first.revert, null);
    const bytes = await Deno.readFile(join(root, "supabase/rollbacks/200_add_note.sql"));
    const digest = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assert.deepEqual(second.revert, {
      file: "supabase/rollbacks/200_add_note.sql",
      sha256: digest,
      loses_data: true,
      reason: "notes",
    });
    assert.equal(third.revert?.loses_data, false);
    assert.deepEqual(report.findings.map((f) => `${f.file}:${f.line} ${f.rule}`), [
      `supabase/rollbacks/300_add_flag.sql:1 ${UNMARKED_RULE}`,
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readReverts refuses a repository without a baseline", async () => {
  const root = await tempTree(
    { "supabase/migrations/100_a.sql": "select 1;\n" },
    "stagecoach-reverts-test-",
  );
  try {
    await assert.rejects(
      readReverts(root),
      /Cannot read the rollback baseline: supabase\/rollbacks\/BASELINE/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
