/**
 * Staging records with COPY (`promotion/staged.ts`) against the local stack's database: what a
 * set-based write reads from the temporary table is exactly what `jsonb_to_recordset` read
 * from the same records as one JSON parameter, and a value its column refuses fails with
 * Postgres's own reason.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import {
  canonicalJson,
  JsonNumber,
  parseJson,
} from "../supabase/functions/_shared/json/lossless.ts";
import type { Row } from "../supabase/functions/_shared/promotion/plan.ts";
import { stageRecords } from "../supabase/functions/_shared/promotion/staged.ts";

const COLUMNS = [
  { name: "key", type: "text" },
  { name: "value", type: "jsonb" },
  { name: "n", type: "bigint" },
  { name: "flag", type: "boolean" },
];

Deno.test("staged records read back as jsonb_to_recordset reads the same JSON", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = parseJson(`[
      {"key": "tab\\there\\nnew line \\\\ back\\r", "value": {"b": [1.50, null], "a": "x\\ty"},
       "n": 9007199254740993, "flag": true},
      {"key": "é😀 \\"quoted\\"", "value": null, "n": null, "flag": false},
      {"key": "missing fields"},
      {"key": "json string", "value": "text\\\\N", "n": -1, "flag": null}
    ]`) as Row[];
    const defs = COLUMNS.map((c) => `${c.name} ${c.type}`).join(", ");
    const [staged, walked] = await sql.begin(async (tx) => {
      const table = await stageRecords(tx, { columns: COLUMNS, rows });
      const read = (from: string, params: string[] = []) =>
        tx.unsafe(
          `select coalesce(json_agg(json_build_array(key, value, n::text, flag) order by key), '[]')::text as rows
           from ${from}`,
          params,
        ).then(([r]) => r.rows as string);
      return [
        await read(`${table} as x`),
        await read(`jsonb_to_recordset($1::text::jsonb) as x(${defs})`, [canonicalJson(rows)]),
      ];
    });
    assert.equal(staged, walked);
    assert.match(staged, /9007199254740993/);
  } finally {
    await sql.end();
  }
});

Deno.test("a staged value its column refuses fails with Postgres's reason, nothing kept", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    await assert.rejects(
      sql.begin((tx) =>
        stageRecords(tx, {
          columns: [{ name: "n", type: "integer" }],
          rows: [{ n: "not a number" }],
        })
      ),
      /invalid input syntax for type integer/,
    );
  } finally {
    await sql.end();
  }
});

Deno.test("many records are staged in chunks, every one of them once", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = Array.from({ length: 5001 }, (_, i) => ({
      key: `k${i}`,
      n: new JsonNumber(String(i)),
    }));
    const [{ count, total, keys }] = await sql.begin(async (tx) => {
      const table = await stageRecords(tx, {
        columns: [{ name: "key", type: "text" }, { name: "n", type: "bigint" }],
        rows,
      });
      return await tx.unsafe(
        `select count(*)::int as count, sum(n)::text as total, count(distinct key)::int as keys
         from ${table}`,
      );
    });
    assert.deepEqual({ count, total, keys }, { count: 5001, total: "12502500", keys: 5001 });
  } finally {
    await sql.end();
  }
});

Deno.test("a refused value after several chunks still fails with Postgres's reason", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const rows: Row[] = Array.from({ length: 20000 }, (_, i) => ({ n: new JsonNumber(String(i)) }));
    rows.push({ n: "not a number" });
    await assert.rejects(
      sql.begin((tx) => stageRecords(tx, { columns: [{ name: "n", type: "integer" }], rows })),
      /invalid input syntax for type integer/,
    );
  } finally {
    await sql.end();
  }
});
