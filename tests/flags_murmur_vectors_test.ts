/**
 * MurmurHash3 over UTF-8, three ways agreeing on our own vectors
 * (tests/fixtures/flags/murmur_utf8_vectors.json: non-ASCII flag keys and ids, computed by npm
 * `murmurhash3js-revisited`, whose `x86.hash32` takes bytes): that package now, our TypeScript
 * (`murmur3Utf8`, `normalizedHash`) and our SQL (`flags.murmur3_32` on bytea,
 * `flags.normalized_hash` on text) on the local stack's development database.
 */
import assert from "node:assert/strict";
import mm from "murmurhash3js-revisited";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import {
  murmur3Utf8,
  normalizedHash,
  VARIANT_SEED,
} from "../supabase/functions/_shared/flags/murmur3.ts";
import file from "./fixtures/flags/murmur_utf8_vectors.json" with { type: "json" };

const { vectors } = file;

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("our vectors hold non-ASCII inputs, and the reference package still gives them", () => {
  assert.ok(vectors.length >= 20);
  assert.ok(vectors.every((v) => [...v.input].some((ch) => ch.codePointAt(0)! > 0x7f)));
  for (const v of vectors) {
    const bytes = new TextEncoder().encode(v.input);
    assert.equal(hex(bytes), v.utf8_hex, v.input);
    assert.equal(mm.x86.hash32(bytes, 0), v.hash_seed_0, v.input);
    assert.equal(mm.x86.hash32(bytes, VARIANT_SEED), v.hash_seed_86028157, v.input);
  }
});

Deno.test("TypeScript murmur3Utf8 and normalizedHash give our UTF-8 vectors", () => {
  for (const v of vectors) {
    assert.equal(murmur3Utf8(v.input, 0), v.hash_seed_0, v.input);
    assert.equal(murmur3Utf8(v.input, VARIANT_SEED), v.hash_seed_86028157, v.input);
    const colon = v.input.indexOf(":");
    if (colon >= 0) {
      const [group, id] = [v.input.slice(0, colon), v.input.slice(colon + 1)];
      assert.equal(normalizedHash(group, id, 100), v.bucket, v.input);
    }
  }
});

Deno.test("SQL flags.murmur3_32 and flags.normalized_hash give our UTF-8 vectors and SMHasher's check", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ h0: string; h1: string; bucket: number | null }[]>`
      select flags.murmur3_32(decode(v ->> 'utf8_hex', 'hex'), 0)::text as h0,
             flags.murmur3_32(decode(v ->> 'utf8_hex', 'hex'), ${VARIANT_SEED})::text as h1,
             case when strpos(v ->> 'input', ':') > 0 then flags.normalized_hash(split_part(v ->> 'input', ':', 1),
                      substr(v ->> 'input', strpos(v ->> 'input', ':') + 1), 100) end as bucket
        from jsonb_array_elements(${JSON.stringify(vectors)}::text::jsonb)
             with ordinality as x(v, n)
       order by n`;
    rows.forEach((r, i) => {
      const v = vectors[i];
      assert.deepEqual([Number(r.h0), Number(r.h1)], [v.hash_seed_0, v.hash_seed_86028157]);
      if (r.bucket !== null) assert.equal(r.bucket, v.bucket, v.input);
    });
    assert.ok(rows.filter((r) => r.bucket !== null).length >= 20, "buckets checked in SQL");
    // SMHasher's verification: hash keys 0..i-1 with seed 256-i, then the hashes (LE) with 0.
    const [check] = await sql<{ h: string }[]>`
      with key as (
        select string_agg(set_byte('\\x00'::bytea, 0, g), ''::bytea order by g) as k
          from generate_series(0, 255) as g
      ), hashes as (
        select i, lpad(to_hex(flags.murmur3_32(substring(key.k from 1 for i), 256 - i)), 8, '0') as x
          from key, generate_series(0, 255) as i
      )
      select flags.murmur3_32(string_agg(
               decode(substr(x, 7, 2) || substr(x, 5, 2) || substr(x, 3, 2) || substr(x, 1, 2), 'hex'),
               ''::bytea order by i), 0)::text as h
        from hashes`;
    assert.equal(Number(check.h), 0xb0f57ee3);
  } finally {
    await sql.end({ timeout: 2 });
  }
});
