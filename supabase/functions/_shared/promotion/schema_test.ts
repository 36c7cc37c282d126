import assert from "node:assert/strict";
import { canonicalJson, type JsonValue } from "../json/lossless.ts";
import { buildPlan } from "./plan.ts";
import { renderPlan } from "./render.ts";
import { migrationsOf, type PendingMigration, schemaChanges } from "./schema.ts";

const SHA = "a".repeat(64);
const REVERT_SHA = "b".repeat(64);

function pending(revert?: PendingMigration["revert"]): PendingMigration {
  return {
    version: "20261204000100",
    name: "add_x",
    sha256: SHA,
    findings: [],
    ...(revert === undefined ? {} : { revert }),
  };
}

Deno.test("schemaChanges without a revert field plans exactly as before reverts existed (hash-stable)", () => {
  const [change] = schemaChanges([pending()]);
  assert.equal(
    canonicalJson(change as unknown as JsonValue),
    canonicalJson({
      kind: "schema_migrations",
      key: "20261204000100_add_x",
      action: "create",
      risk: "low",
      reasons: ["pending migration"],
      before: null,
      after: { version: "20261204000100", name: "add_x", sha256: SHA, findings: [] },
    }),
  );
});

Deno.test("schemaChanges puts a clean revert in the change (so the hash covers it), low risk", () => {
  const revert = {
    file: "supabase/rollbacks/20261204000100_add_x.sql",
    sha256: REVERT_SHA,
    loses_data: false,
  };
  const [change] = schemaChanges([pending(revert)]);
  assert.equal(change.risk, "low");
  assert.deepEqual(change.reasons, ["pending migration"]);
  assert.deepEqual(JSON.parse(JSON.stringify(change.after)).revert, revert);
  assert.deepEqual(migrationsOf([change])[0].revert, revert);
});

Deno.test("schemaChanges: no revert script, or one that loses data, is high risk and undone only by a restore", () => {
  const [none] = schemaChanges([pending(null)]);
  assert.equal(none.risk, "high");
  assert.deepEqual(none.reasons, [
    "no revert script: undone only by restoring the pre-release backup",
  ]);
  assert.equal(JSON.parse(JSON.stringify(none.after)).revert, null);

  const [lossy] = schemaChanges([pending({
    file: "supabase/rollbacks/20261204000100_add_x.sql",
    sha256: REVERT_SHA,
    loses_data: true,
    reason: "x's values",
  })]);
  assert.equal(lossy.risk, "high");
  assert.deepEqual(lossy.reasons, [
    "revert loses data (x's values): undone only by restoring the pre-release backup",
  ]);
});

Deno.test("renderPlan reads a migration's revert as a sentence", () => {
  const file = "supabase/rollbacks/20261204000100_add_x.sql";
  const render = (revert: PendingMigration["revert"]) =>
    renderPlan(
      buildPlan({
        source: "staging",
        target: "production",
        scope: ["schema"],
        includeFlagState: false,
        sourceRows: {},
        targetRows: {},
        tierUsage: {},
        external: schemaChanges([pending(revert)]),
      }),
      { color: false },
    );
  assert.match(
    render({ file, sha256: REVERT_SHA, loses_data: false }),
    /\n {6}revert: supabase\/rollbacks\/20261204000100_add_x\.sql$/m,
  );
  assert.match(
    render({ file, sha256: REVERT_SHA, loses_data: true, reason: "x's values" }),
    /revert: supabase\/rollbacks\/20261204000100_add_x\.sql \(loses data: x's values\) — restore only/,
  );
  assert.match(
    render({ file, sha256: REVERT_SHA, loses_data: false, reason: "transient: a cache" }),
    /\n {6}revert: supabase\/rollbacks\/20261204000100_add_x\.sql \(transient: a cache\)$/m,
  );
  assert.match(render(null), /\n {6}no revert: restore only$/m);
  assert.doesNotMatch(render(undefined), /revert/);
});
