import assert from "node:assert/strict";
import {
  bcryptSalt,
  chooseAnonKey,
  keyFingerprint,
  leakSeed,
  MIN_KEY_LENGTH,
  sqlKey,
} from "./key.ts";

const KEY = "k".repeat(MIN_KEY_LENGTH);

Deno.test("chooseAnonKey prefers the key file, trims, and has no default", () => {
  assert.equal(chooseAnonKey({ envValue: KEY }), KEY);
  assert.equal(chooseAnonKey({ envValue: "x".repeat(40), fileContent: `${KEY}\n` }), KEY);
  assert.throws(
    () => chooseAnonKey({}),
    /no key given \(set STAGECOACH_ANON_KEY or pass --key-file/,
  );
  assert.throws(
    () => chooseAnonKey({ fileContent: "short-secret" }),
    (err: Error) =>
      /the key file is shorter than 32/.test(err.message) && !err.message.includes("short-secret"),
  );
});

Deno.test("keyFingerprint and sqlKey are deterministic, distinct and never the key", async () => {
  const fp = await keyFingerprint(KEY);
  assert.match(fp, /^[0-9a-f]{16}$/);
  assert.equal(await keyFingerprint(KEY), fp);
  assert.notEqual(await keyFingerprint(`${KEY}x`), fp);
  const derived = await sqlKey(KEY);
  assert.match(derived, /^[0-9a-f]{64}$/);
  assert.ok(!derived.includes(fp) && !derived.includes(KEY));
});

Deno.test("bcryptSalt is a valid, key-derived bcrypt salt", async () => {
  const salt = await bcryptSalt(KEY, 10);
  assert.match(salt, /^\$2a\$10\$[./A-Za-z0-9]{21}[.Oeu]$/);
  assert.equal(await bcryptSalt(KEY, 10), salt);
  assert.notEqual(await bcryptSalt(`${KEY}x`, 10), salt);
  assert.match(await bcryptSalt(KEY, 4), /^\$2a\$04\$/);
});

Deno.test("a job's leak-scan seed is the same on every resume, and another job's differs", async () => {
  const k = await sqlKey("x".repeat(40));
  const seed = await leakSeed(k, "7db03891-45ff-4408-a9ff-aaefb6be8c1f");
  assert.match(seed, /^-?\d{1,19}$/);
  assert.equal(await leakSeed(k, "7db03891-45ff-4408-a9ff-aaefb6be8c1f"), seed);
  assert.notEqual(await leakSeed(k, "00000000-45ff-4408-a9ff-aaefb6be8c1f"), seed);
  assert.notEqual(
    await leakSeed(await sqlKey("y".repeat(40)), "7db03891-45ff-4408-a9ff-aaefb6be8c1f"),
    seed,
  );
});
