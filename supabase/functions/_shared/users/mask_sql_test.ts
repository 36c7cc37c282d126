/**
 * The compiled masking SQL: its shape (pure), and what it computes, run on the development
 * database of the local stack against literal rows (nothing is read from or written to tables).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../../../../scripts/local/config.ts";
import type { ColumnInfo, ColumnRule } from "./manifest.ts";
import {
  buildTableSelect,
  mappedUserIdSelect,
  type MaskOptions,
  personalValueSelects,
  redactedExpr,
} from "./mask_sql.ts";
import type { UserTable } from "./scope.ts";

const TABLE: UserTable = { name: "public.people", key: "id", userColumn: "id" };
const OPTS: MaskOptions = {
  mode: "anonymized",
  targetProduction: false,
  emailDomain: "anon.stagecoach.test",
  passwordHash: "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
  tierIds: { pro: "11111111-1111-4111-8111-111111111111" },
};
const col = (name: string, type = "text", generated = false): ColumnInfo => ({
  name,
  type,
  generated,
});

const COLUMNS = [
  col("id", "uuid"),
  col("email"),
  col("full_name"),
  col("given_name"),
  col("phone"),
  col("born", "date"),
  col("info", "jsonb"),
  col("pw"),
  col("cus"),
  col("lower_email", "text", true),
];
const RULES: Record<string, ColumnRule> = {
  id: { rule: "uuid" },
  email: { rule: "fake_email" },
  full_name: { rule: "fake_name", part: "full", seed: "id" },
  given_name: { rule: "fake_name", part: "first", seed: "id" },
  phone: { rule: "fake_phone" },
  born: { rule: "date_shift", days: 30, seed: "id" },
  info: {
    rule: "jsonb",
    unlisted: "drop",
    paths: {
      email: { rule: "fake_email" },
      "contacts[*].email": { rule: "fake_email" },
      "contacts[*].relation": { rule: "keep" },
      secret: { rule: "drop" },
      tags: { rule: "keep" },
    },
  },
  pw: { rule: "password" },
  cus: { rule: "stripe_id", prefix: "cus", otherwise: "fake" },
};

Deno.test("buildTableSelect leaves out generated columns and hoists each hash once", () => {
  const q = buildTableSelect(TABLE, { rules: RULES, columns: COLUMNS, mask: OPTS });
  assert.deepEqual(q.columns, [
    "id",
    "email",
    "full_name",
    "given_name",
    "phone",
    "born",
    "info",
    "pw",
    "cus",
  ]);
  assert.equal(q.usesKey, true);
  // id feeds the mapped id, both names and the date shift: hashed once.
  assert.equal(q.sql.split("extensions.hmac(t.\"id\"::text, key.k, 'sha256')").length - 1, 1);
  assert.match(q.sql, /cross join lateral \(select .* offset 0\) as h/s);
  assert.doesNotMatch(q.sql, /stagecoach\.anon_key'\)[^\n]*'[0-9a-f]{32,}'/, "no key literal");
});

Deno.test("buildTableSelect in faithful mode keeps every value but re-points tiers", () => {
  const q = buildTableSelect(
    { name: "public.memberships", key: "id", userColumn: "user_id" },
    {
      rules: { id: { rule: "uuid" }, tier_id: { rule: "tier_by_slug" }, cus: RULES.cus },
      columns: [col("id", "uuid"), col("tier_id", "uuid"), col("cus")],
      mask: { ...OPTS, mode: "faithful", passwordHash: null, targetProduction: true },
    },
  );
  assert.equal(q.usesKey, false);
  assert.match(
    q.sql,
    /^select t\."id" as "id",\n {2}case src_tier\.slug when 'pro' then '11111111-1111-4111-8111-111111111111'::uuid end as "tier_id",\n {2}t\."cus" as "cus"/,
  );
});

Deno.test("buildTableSelect refuses a column without a rule", () => {
  assert.throws(
    () =>
      buildTableSelect(TABLE, {
        rules: { id: { rule: "keep" } },
        columns: [col("id"), col("x")],
        mask: OPTS,
      }),
    /Cannot compile public\.people: x has no rule/,
  );
});

Deno.test("redactedExpr shows kept values and only the shape of others", () => {
  assert.equal(redactedExpr(col("status"), { rule: "keep" }), 't."status"::text');
  assert.match(
    redactedExpr(col("email"), { rule: "fake_email" }),
    /left\(t\."email"::text, 1\) \|\| '…\('/,
  );
  assert.match(
    redactedExpr(col("info", "jsonb"), { rule: "keep", pii: true }),
    /jsonb_object_keys/,
  );
});

Deno.test("personalValueSelects lists personal columns and masked JSONB paths", () => {
  const selects = personalValueSelects(TABLE, {
    rules: RULES,
    columns: COLUMNS,
    isPersonal: (r) => ["fake_email", "fake_name", "fake_phone", "jsonb"].includes(r.rule),
  });
  // One unpivot of the scalars and simple paths, one scan for the array path.
  assert.equal(selects.length, 2);
  assert.match(
    selects[0],
    /cross join lateral \(values \(t\."email"::text\), .*\(case when jsonb_typeof\(t\."info" #> '\{email\}'\) = 'string'/,
  );
  assert.ok(selects[1].includes(`'lax $."contacts"[*]."email" ? (@.type() == "string")'`));
  assert.ok(!selects.some((s) => s.includes('"relation"')), "kept paths are not personal");
});

/** Runs the compiled select over literal rows with a key; returns the masked rows. */
async function mask(
  sql: postgres.Sql,
  key: string,
  rows: Record<string, unknown>[],
  opts: MaskOptions = OPTS,
): Promise<Record<string, unknown>[]> {
  const q = buildTableSelect(TABLE, { rules: RULES, columns: COLUMNS, mask: opts });
  const values = JSON.stringify(rows);
  const inline = q.sql.replace(
    'from "public"."people" as t',
    `from jsonb_to_recordset('${values.replaceAll("'", "''")}'::jsonb)
       as t(id uuid, email text, full_name text, given_name text, phone text, born date,
            info jsonb, pw text, cus text)`,
  );
  return await sql.begin(async (tx) => {
    await tx`select set_config('stagecoach.anon_key', ${key}, true)`;
    return [...await tx.unsafe(`${inline} order by 1`)];
  });
}

const PEOPLE = [
  {
    id: "a1111111-1111-4111-8111-111111111111",
    email: " Alice@Example.com ",
    full_name: "Alice Andersen",
    given_name: "Alice",
    phone: "+4520000001",
    born: "1988-04-12",
    info: {
      email: "alice@example.com",
      secret: "s3cret",
      other: "dropped",
      tags: ["a", "b"],
      contacts: [{ email: "bob@example.com", relation: "friend", note: "x" }, "loose"],
    },
    pw: "$2a$10$realhash",
    cus: "cus_live123",
  },
  {
    id: "b2222222-2222-4222-8222-222222222222",
    email: "",
    full_name: null,
    given_name: "  ",
    phone: null,
    born: null,
    info: null,
    pw: null,
    cus: null,
  },
];

Deno.test("masking is deterministic per key, differs across keys, and keeps one email's fake everywhere", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const a1 = await mask(sql, "key-one", PEOPLE);
    const a2 = await mask(sql, "key-one", PEOPLE);
    const b = await mask(sql, "key-two", PEOPLE);
    assert.deepEqual(a1, a2, "same key, same output");
    const alice = a1.find((r) => r.email !== "")!;
    const bAlice = b.find((r) => r.email !== "")!;
    for (const c of ["id", "email", "full_name", "phone"]) {
      assert.notEqual(alice[c], bAlice[c], `${c} differs under another key`);
    }
    assert.match(String(alice.email), /^[a-z]+\.[0-9a-f]{16}@anon\.stagecoach\.test$/);
    const info = alice.info as Record<string, unknown>;
    assert.equal(info.email, alice.email, "the same email (normalised) gets the same fake");
    assert.deepEqual(Object.keys(info).sort(), ["contacts", "email", "tags"]);
    assert.deepEqual(info.tags, ["a", "b"]);
    const contacts = info.contacts as unknown[];
    assert.match(String((contacts[0] as Record<string, string>).email), /@anon\.stagecoach\.test$/);
    assert.deepEqual(Object.keys(contacts[0] as object).sort(), ["email", "relation"]);
    assert.equal(contacts[1], null, "an unexpected scalar where an object was expected is nulled");
    assert.equal(
      String(alice.full_name).split(" ")[0],
      alice.given_name,
      "seeded by id: names agree",
    );
    assert.match(String(alice.phone), /^\+99\d{13}$/);
    const shift =
      (Date.parse(String((alice.born as Date).toISOString())) - Date.parse("1988-04-12")) / 864e5;
    assert.ok(Math.abs(shift) <= 30, `shifted by ${shift} days`);
    assert.equal(alice.pw, OPTS.passwordHash);
    assert.match(String(alice.cus), /^cus_anon[0-9a-f]{24}$/);
    assert.match(
      String(alice.id),
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    assert.notEqual(alice.id, PEOPLE[0].id);

    const blank = a1.find((r) => r.email === "")!;
    assert.deepEqual(
      { ...blank, id: undefined },
      {
        id: undefined,
        email: "",
        full_name: null,
        given_name: "  ",
        phone: null,
        born: null,
        info: null,
        pw: null,
        cus: null,
      },
      "nulls and blanks stay as they are",
    );

    const mapped = mappedUserIdSelect({ id: { rule: "uuid" } }, "anonymized");
    const [{ id }] = await sql.begin(async (tx) => {
      await tx`select set_config('stagecoach.anon_key', 'key-one', true)`;
      return await tx.unsafe(
        mapped.sql.replace(
          "from auth.users as t",
          `from (select '${PEOPLE[0].id}'::uuid as id) as t`,
        ),
      );
    });
    assert.equal(id, alice.id, "the mapped user id matches the copied id");
  } finally {
    await sql.end();
  }
});

Deno.test("stripe ids stay in production and are nulled by the null rule elsewhere", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const prod = await mask(sql, "k", PEOPLE.slice(0, 1), { ...OPTS, targetProduction: true });
    assert.equal(prod[0].cus, "cus_live123");
    const q = buildTableSelect(TABLE, {
      rules: { cus: { rule: "stripe_id", prefix: "cus", otherwise: "null" } },
      columns: [col("cus")],
      mask: OPTS,
    });
    assert.match(q.sql, /^select null as "cus"/);
  } finally {
    await sql.end();
  }
});
