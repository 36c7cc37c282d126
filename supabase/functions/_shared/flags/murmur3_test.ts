import assert from "node:assert/strict";
import { murmur3_32, murmur3Utf8, normalizedHash, VARIANT_SEED } from "./murmur3.ts";

Deno.test("murmur3_32 gives the published MurmurHash3 x86_32 vectors", () => {
  // Well-known vectors of the reference implementation (SMHasher's MurmurHash3_x86_32).
  const vectors: [string, number, number][] = [
    ["", 0, 0],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["a", 0, 0x3c2569b2],
    ["hello", 0, 0x248bfa47],
    ["hello", 1, 0xbb4abcad],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["Hello, world!", 0x9747b28c, 0x24884cba],
    ["The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723],
  ];
  for (const [text, seed, want] of vectors) assert.equal(murmur3Utf8(text, seed), want, text);
  assert.equal(murmur3_32(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 0), 0x76293b50);
  assert.equal(murmur3_32(new Uint8Array([0x21, 0x43, 0x65, 0x87]), 0x5082edee), 0x2362f9de);
  assert.equal(murmur3_32(new Uint8Array([0x21, 0x43, 0x65]), 0), 0x7e4a8634);
});

Deno.test("murmur3_32 passes SMHasher's verification (0xB0F57EE3)", () => {
  const key = new Uint8Array(256);
  const hashes = new Uint8Array(256 * 4);
  const view = new DataView(hashes.buffer);
  for (let i = 0; i < 256; i++) {
    key[i] = i;
    view.setUint32(i * 4, murmur3_32(key.subarray(0, i), 256 - i), true);
  }
  assert.equal(murmur3_32(hashes, 0), 0xb0f57ee3);
});

Deno.test("normalizedHash is Unleash's bucket: murmur3 of <group>:<id> modulo n, plus 1", () => {
  assert.equal(normalizedHash("AB12A", "122", 100), (murmur3Utf8("AB12A:122") % 100) + 1);
  assert.equal(
    normalizedHash("Feature.Variants.C", "232", 99, VARIANT_SEED),
    (murmur3Utf8("Feature.Variants.C:232", VARIANT_SEED) % 99) + 1,
  );
  for (let i = 0; i < 1000; i++) {
    const b = normalizedHash("g", String(i), 100);
    assert.ok(b >= 1 && b <= 100);
  }
});
