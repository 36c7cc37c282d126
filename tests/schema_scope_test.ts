/**
 * Scope `schema` through the real `ops` function: pending migrations become plan changes
 * (part of the plan hash), a lint finding makes the plan high risk and shows rule, file and
 * line; a stale list is refused; the apply waits until the approved migrations are pushed.
 * Also: `promote plan --dry-run` records nothing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { actorEmail, cli, uniqueSuffix, withHarness } from "./promotion_helpers.ts";

function migration(findings: unknown[] = []) {
  // A version no real migration will ever have, unique per run.
  const version = `2999${String(Date.now()).slice(-10)}`;
  return {
    version,
    name: `zz_${uniqueSuffix()}`,
    sha256: "c".repeat(64),
    findings,
  };
}

const FINDING = {
  rule: "ban-drop-column",
  file: "supabase/migrations/29990101000000_zz.sql",
  line: 3,
  message: "Dropping a column may break existing clients.",
  source: "squawk",
};

Deno.test("schema scope: pending migrations are planned, hashed and shown with their findings", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const m = migration([FINDING]);
    const before = await h.promotionCount("staging");
    const dry = await h.call("staging", "operator", "/promotions", {
      body: { source: "development", scope: ["schema"], migrations: [m], dry_run: true },
    });
    assert.equal(dry.status, 200, dry.text);
    assert.equal(await h.promotionCount("staging"), before, "a dry run records nothing");

    const planned = await h.call("staging", "operator", "/promotions", {
      body: { source: "development", scope: ["schema"], migrations: [m] },
    });
    assert.equal(planned.status, 201, planned.text);
    const p = planned.body.promotion;
    assert.equal(p.risk, "high", "a lint finding makes the plan high risk");
    assert.deepEqual(
      p.plan.changes.map((c: { kind: string; key: string }) => [c.kind, c.key]),
      [["schema_migrations", `${m.version}_${m.name}`]],
    );
    assert.match(
      p.plan.changes[0].reasons[0],
      /squawk ban-drop-column at supabase\/migrations\/29990101000000_zz\.sql:3/,
    );
    assert.equal(p.plan.changes[0].after.sha256, m.sha256);

    // Approved, but not pushed: the apply waits for the schema.
    assert.equal(await h.approveAsNeeded("staging", p), "approved");
    const early = await h.apply("staging", p.id);
    assert.equal(early.status, 409, early.text);
    assert.equal(early.body.error.code, "schema_not_pushed");
    const [still] = await h.db.staging`select status from ops.promotions where id = ${p.id}`;
    assert.equal(still.status, "approved", "a refused apply changes nothing");

    // Pushed (as supabase db push records it): the apply goes through.
    await h.db.staging`
      insert into supabase_migrations.schema_migrations (version, name, statements)
      values (${m.version}, ${m.name}, '{}')`;
    try {
      const applied = await h.apply("staging", p.id);
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.body.promotion.status, "succeeded", applied.text);

      // Now the list is stale: a plan naming an applied migration is refused, nothing recorded.
      const count = await h.promotionCount("staging");
      const stale = await h.call("staging", "operator", "/promotions", {
        body: { source: "development", scope: ["schema"], migrations: [m] },
      });
      assert.equal(stale.status, 409, stale.text);
      assert.equal(stale.body.error.code, "schema_already_applied");
      assert.equal(await h.promotionCount("staging"), count);
    } finally {
      await h.db
        .staging`delete from supabase_migrations.schema_migrations where version = ${m.version}`;
    }
  });
});

Deno.test("schema scope: bad input is refused with the path named, nothing recorded", async () => {
  await withHarness(async (h) => {
    const before = await h.promotionCount("staging");
    const cases = [
      {
        body: { source: "development", scope: ["config"], migrations: [migration()] },
        path: "migrations",
      },
      {
        body: {
          source: "development",
          scope: ["schema"],
          migrations: [{ ...migration(), sha256: "x" }],
        },
        path: "sha256",
      },
      {
        body: {
          source: "development",
          scope: ["schema"],
          migrations: [migration([{ ...FINDING, source: "someone" }])],
        },
        path: "source",
      },
    ];
    for (const c of cases) {
      const r = await h.call("staging", "operator", "/promotions", { body: c.body });
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, new RegExp(c.path));
    }
    assert.equal(await h.promotionCount("staging"), before);
  });
});

Deno.test("promote plan --dry-run shows the plan and records nothing", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const key = `test_${uniqueSuffix()}.dry`;
    await h.db.development`insert into public.app_config (key, value) values (${key}, '1')`;
    try {
      await h.token("staging", "operator");
      const before = await h.promotionCount("staging");
      const r = await cli([
        "promote",
        "plan",
        "--from",
        "development",
        "--to",
        "staging",
        "--dry-run",
        "--as",
        actorEmail("operator"),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(key.replace(".", "\\.")));
      assert.match(r.stdout, /Dry run: no promotion recorded/);
      assert.equal(await h.promotionCount("staging"), before);
    } finally {
      await h.db.development`delete from public.app_config where key = ${key}`;
    }
  });
});
