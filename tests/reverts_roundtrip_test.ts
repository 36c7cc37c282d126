/**
 * The revert scripts of this repository, proven on scratch databases of the test stack's
 * development server (`prove_reverts.ts`): each pair after the baseline round-trips, and a
 * revert that does not undo its migration, or loses data without saying so, is caught.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import { platformShimFiles } from "../scripts/local/stack.ts";
import {
  applyBaseline,
  type ProofOptions,
  provePair,
  proveReverts,
  RevertProofError,
  withScratchDatabase,
} from "../scripts/release/prove_reverts.ts";
import { readReverts, UNMARKED_RULE } from "../scripts/release/reverts.ts";
import { tempTree } from "./fixtures/temp_tree.ts";

const dev = localEnv("development");

async function proofOptions(): Promise<ProofOptions> {
  return { adminUrl: dev.dbUrl, shim: await platformShimFiles() };
}

async function databaseExists(name: string): Promise<boolean> {
  const sql = postgres(dev.dbUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    return rows.length > 0;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

Deno.test("every migration after the baseline has a revert script, and none loses data unmarked", async () => {
  const { baseline, migrations, problems, findings } = await readReverts(REPO_ROOT);
  assert.deepEqual(problems.map((p) => p.message), []);
  assert.deepEqual(findings.map((f) => `${f.file}:${f.line}: ${f.message}`), []);
  const after = migrations.filter((m) => BigInt(m.version) > BigInt(baseline));
  assert.ok(after.length > 0, "no migration after the baseline: nothing is proven");
  assert.ok(after.every((m) => m.revert !== null));
});

Deno.test("every revert script of this repository round-trips on a scratch database", async () => {
  const report = await proveReverts(REPO_ROOT, await proofOptions());
  const { baseline, migrations } = await readReverts(REPO_ROOT);
  assert.deepEqual(
    report.proven,
    migrations.filter((m) => BigInt(m.version) > BigInt(baseline)).map((m) =>
      `${m.version}_${m.name}`
    ),
  );
  console.log(
    `  proved ${report.proven.length} revert(s) over a ${report.baseline}-migration baseline in ` +
      `${report.ms.total} ms (scratch ${report.ms.scratch}, baseline ${report.ms.baseline}, ` +
      `pairs ${report.ms.pairs})`,
  );
});

Deno.test("a revert that forgets to drop an added column is caught, naming the migration and the line; the scratch database is dropped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stagecoach-reverts-bad-" });
  const migration = join(dir, "20991231000000_add_promotion_note.sql");
  const revert = join(dir, "revert.sql");
  await Deno.writeTextFile(
    migration,
    "alter table ops.promotions add column note text;\n" +
      "create index promotions_note_idx on ops.promotions (note);\n",
  );
  await Deno.writeTextFile(revert, "drop index ops.promotions_note_idx;\n");
  const { baseline, migrations } = await readReverts(REPO_ROOT);
  let scratch = "";
  try {
    const err = await withScratchDatabase(await proofOptions(), async (db) => {
      scratch = db.name;
      await applyBaseline(
        db,
        migrations.filter((m) => BigInt(m.version) <= BigInt(baseline))
          .map((m) => ({ ...m, file: join(REPO_ROOT, m.file) })),
      );
      return await provePair(db, {
        version: "20991231000000",
        name: "add_promotion_note",
        migration,
        revert,
      }).then(() => null, (e) => e);
    });
    assert.ok(err instanceof RevertProofError, String(err));
    assert.equal(err.migration, "20991231000000_add_promotion_note");
    assert.match(err.message, /Cannot prove the revert of 20991231000000_add_promotion_note/);
    assert.ok(err.diff.includes("@@ Name: promotions; Type: TABLE; Schema: ops; Owner: postgres"));
    assert.ok(err.diff.includes("+     note text,"), err.diff.join("\n"));
    assert.ok(scratch.startsWith("stagecoach_reverts_"));
    assert.equal(await databaseExists(scratch), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the scratch database is dropped when the proof throws", async () => {
  let scratch = "";
  await assert.rejects(
    withScratchDatabase(await proofOptions(), async (db) => {
      scratch = db.name;
      await db.psql(["-c", "select no_such_function()"]);
    }),
    /Cannot run psql: .*no_such_function/,
  );
  assert.ok(scratch);
  assert.equal(await databaseExists(scratch), false);
});

Deno.test("a revert dropping a column is refused unmarked before any database is touched; marked, it loses data and round-trips", async () => {
  const files = {
    "supabase/migrations/100_create_probe.sql": "create table public.probe (id int primary key);\n",
    "supabase/migrations/200_add_probe_note.sql":
      "alter table public.probe add column note text;\n",
    "supabase/rollbacks/BASELINE": "100\n",
    "supabase/rollbacks/200_add_probe_note.sql": "alter table public.probe drop column note;\n",
  };
  const unmarked = await tempTree(files, "stagecoach-reverts-repo-");
  const marked = await tempTree({
    ...files,
    "supabase/rollbacks/200_add_probe_note.sql":
      "-- stagecoach: loses-data the notes written since\n" +
      "alter table public.probe drop column note;\n",
  }, "stagecoach-reverts-repo-");
  try {
    const unmarkedReport = await readReverts(unmarked);
    assert.deepEqual(unmarkedReport.findings.map((f) => `${f.file}:${f.line} ${f.rule}`), [
      `supabase/rollbacks/200_add_probe_note.sql:1 ${UNMARKED_RULE}`,
    ]);
    await assert.rejects(
      proveReverts(unmarked, {
        ...await proofOptions(),
        adminUrl: "postgresql://nobody@127.0.0.1:1/x",
      }),
      new RegExp(
        `Cannot prove reverts: supabase/rollbacks/200_add_probe_note.sql:1: ${UNMARKED_RULE}`,
      ),
    );

    const markedReport = await readReverts(marked);
    assert.deepEqual(markedReport.findings, []);
    assert.deepEqual(markedReport.migrations[1].revert?.loses_data, true);
    assert.equal(markedReport.migrations[1].revert?.reason, "the notes written since");
    const proof = await proveReverts(marked, await proofOptions());
    assert.deepEqual(proof.proven, ["200_add_probe_note"]);
  } finally {
    await Deno.remove(unmarked, { recursive: true });
    await Deno.remove(marked, { recursive: true });
  }
});

Deno.test("a revert that leaves a pg_cron job scheduled does not round-trip", async () => {
  const root = await tempTree({
    "supabase/migrations/100_create_probe.sql": "create table public.probe (id int primary key);\n",
    "supabase/migrations/200_schedule_probe.sql":
      "create extension if not exists pg_cron with schema pg_catalog;\n" +
      "select cron.schedule('stagecoach-probe', '0 3 * * *', 'select 1');\n",
    "supabase/rollbacks/BASELINE": "100\n",
    "supabase/rollbacks/200_schedule_probe.sql":
      "-- Forgets cron.unschedule('stagecoach-probe').\n",
  }, "stagecoach-reverts-repo-");
  try {
    const err = await proveReverts(root, await proofOptions()).then(() => null, (e) => e);
    assert.ok(err instanceof RevertProofError, String(err));
    assert.equal(err.migration, "200_schedule_probe");
    assert.equal(err.diff[0], "+++ only after: pg_cron jobs", err.diff.join("\n"));
    assert.ok(
      err.diff.some((l) => /^\+ stagecoach-probe 0 3 \* \* \* \S+ select 1$/.test(l)),
      err.diff.join("\n"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
