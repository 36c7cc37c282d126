import assert from "node:assert/strict";
import { applyPatch, assertNoSecrets, progressTotals } from "./job.ts";

Deno.test("applyPatch merges each progress column key by key", () => {
  const before = {
    cursor: { "auth.users": "a" },
    counts: { "auth.users": 10 },
    totals: { "auth.users": 100 },
    state: { phase: "copy" },
  };
  const after = applyPatch(before, {
    cursor: { "auth.users": "b", "public.profiles": "x" },
    counts: { "auth.users": 20 },
  });
  assert.deepEqual(after, {
    cursor: { "auth.users": "b", "public.profiles": "x" },
    counts: { "auth.users": 20 },
    totals: { "auth.users": 100 },
    state: { phase: "copy" },
  });
  assert.deepEqual(before.cursor, { "auth.users": "a" }, "the input is not changed");
});

Deno.test("progressTotals sums counts and totals over every table", () => {
  assert.deepEqual(progressTotals({ counts: { a: 5, b: 7 }, totals: { a: 10, b: 10 } }), {
    done: 12,
    total: 20,
  });
  assert.deepEqual(progressTotals({ counts: {}, totals: {} }), { done: 0, total: null });
});

Deno.test("assertNoSecrets accepts fingerprints, names and plain values", () => {
  assertNoSecrets({
    source_env: "production",
    key_fingerprint: "9f2c01ab",
    manifest_hash: "ab".repeat(32),
    where: "created_at > now() - interval '1 day'",
    nested: [{ table: "auth.users" }],
    password_rule: null,
    manifest: { encrypted_password: { rule: "password" } },
  });
});

Deno.test("assertNoSecrets refuses secret-looking names and values without echoing them", () => {
  const cases: unknown[] = [
    { anon_key: "abc" },
    { password: "hunter2" },
    { stripe: { api_key: "x" } },
    { key: "k" },
    { db: "postgresql://postgres:s3cret@db.example.com:5432/postgres" },
    { list: ["sk_live_123"] },
    { hook: "whsec_abc" },
    { jwt: "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.sig" },
  ];
  for (const params of cases) {
    assert.throws(() => assertNoSecrets(params), (err: Error) => {
      assert.match(err.message, /^Cannot queue job: parameter params\.\S+ looks like a secret$/);
      assert.doesNotMatch(err.message, /hunter2|s3cret|sk_live_123/);
      return true;
    });
  }
});
