import assert from "node:assert/strict";
import type postgres from "postgres";
import { ReleaseRecord, type ReleaseRow } from "./record.ts";

/**
 * A stand-in for the target's database with the release functions' semantics, whose
 * `ops.releases` appears only when `migrate()` is called (a first release pushes it).
 */
function fakeTarget() {
  let migrated = false;
  let row: ReleaseRow | null = null;
  const calls: string[] = [];
  const tag = () => Promise.resolve([{ ok: migrated }]);
  const unsafe = (text: string, params: unknown[]) => {
    const fn = /ops\.(\w+)\(/.exec(text)![1];
    calls.push(`${fn}(${params.filter((p) => p !== null).join(", ")})`);
    if (fn === "start_release") {
      row ??= {
        id: "r1",
        environment: String(params[0]),
        source_env: String(params[1]),
        git_sha: String(params[2]),
        started_by: String(params[3]),
        promotion_id: null,
        status: "running",
        steps: [],
      };
    } else if (fn === "record_release_step") {
      const [, name, status, summary, promotion] = params as string[];
      row!.steps = [
        ...row!.steps.filter((s) => s.name !== name),
        { name, status, summary } as never,
      ];
      if (promotion) row!.promotion_id = promotion;
    } else if (fn === "set_release_status") {
      row!.status = params[1] as ReleaseRow["status"];
    }
    return Promise.resolve([structuredClone(row)]);
  };
  const sql = Object.assign(tag, { unsafe }) as unknown as postgres.Sql;
  return { sql, calls, migrate: () => (migrated = true), row: () => row };
}

const KEY = { environment: "staging", source: "development", sha: "abcdef1", startedBy: "user:ci" };

Deno.test("ReleaseRecord keeps steps in memory until ops.releases exists, then writes them all", async () => {
  const db = fakeTarget();
  const rec = await ReleaseRecord.open(db.sql, KEY);
  assert.equal(rec.stored, false);
  await rec.step("migrations", "succeeded", "1 pending");
  await rec.step("plan", "succeeded", "promotion p1", "p1");
  await rec.step("db_push", "running");
  assert.deepEqual(db.calls, [], "nothing is written before the table exists");
  assert.equal(rec.stepStatus("plan"), "succeeded");

  db.migrate(); // the push created ops.releases
  await rec.step("db_push", "succeeded", "applied 1 migration(s)");
  assert.equal(rec.stored, true);
  assert.deepEqual(db.calls, [
    "start_release(staging, development, abcdef1, user:ci)",
    "record_release_step(r1, migrations, succeeded, 1 pending, p1)",
    "record_release_step(r1, plan, succeeded, promotion p1, p1)",
    "record_release_step(r1, db_push, running, p1)",
    "record_release_step(r1, db_push, succeeded, applied 1 migration(s), p1)",
  ]);
  assert.equal(db.row()!.promotion_id, "p1");
  await rec.status("succeeded");
  assert.equal(db.row()!.status, "succeeded");
});

Deno.test("ReleaseRecord opens the existing release of a commit when the table exists", async () => {
  const db = fakeTarget();
  db.migrate();
  const rec = await ReleaseRecord.open(db.sql, KEY);
  assert.equal(rec.stored, true);
  assert.equal(rec.row.id, "r1");
  assert.deepEqual(db.calls, ["start_release(staging, development, abcdef1, user:ci)"]);
});
