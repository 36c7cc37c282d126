/**
 * MurmurHash3 x86_32 over bytes, and the two ways flags use it (Unleash's definitions):
 * the rollout bucket and the variant target. Strings are hashed as their UTF-8 bytes; the
 * npm packages Unleash's JS SDK uses hash UTF-16 code units instead, which differ for any
 * character beyond ASCII. `flags.murmur3_32` in SQL is the same function over `bytea`.
 *
 * Pure: values in, values out.
 *
 * @module
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const ENCODER = new TextEncoder();

/** The seed Unleash uses for rollout buckets. */
export const BUCKET_SEED = 0;
/** The seed Unleash uses for variant targets. */
export const VARIANT_SEED = 86028157;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/**
 * MurmurHash3 x86_32 of `bytes` with `seed`, as an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * murmur3_32(new TextEncoder().encode("hello"), 0); // 613153351
 * ```
 */
export function murmur3_32(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const blocks = bytes.length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(rotl32(Math.imul(k, C1), 15), C2);
    h = rotl32(h ^ k, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = bytes.length & 3;
  if (tail) {
    let k = 0;
    for (let j = tail - 1; j >= 0; j--) k = (k << 8) | bytes[blocks + j];
    h ^= Math.imul(rotl32(Math.imul(k, C1), 15), C2);
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `text`. */
export function murmur3Utf8(text: string, seed = 0): number {
  return murmur3_32(ENCODER.encode(text), seed);
}

/**
 * Unleash's normalized hash: `murmur3(<group>:<stickiness>, seed) % modulo + 1`, in 1..modulo.
 *
 * @example
 * ```ts
 * normalizedHash("new_checkout", "user-1", 100); // the user's rollout bucket, 1..100
 * ```
 */
export function normalizedHash(
  group: string,
  stickiness: string,
  modulo: number,
  seed: number = BUCKET_SEED,
): number {
  return (murmur3Utf8(`${group}:${stickiness}`, seed) % modulo) + 1;
}
