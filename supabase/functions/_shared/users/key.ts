/**
 * The operator's anonymization key: read from `STAGECOACH_ANON_KEY` or a key file (there is no
 * default), never printed or stored. What leaves this module is a fingerprint (for jobs and
 * audit), a derived key for the source's SQL (so the operator's key never reaches a database),
 * and a deterministic bcrypt salt for the test password (so two runs give identical hashes).
 *
 * @module
 */

/** Shortest key accepted: 32 characters (e.g. `openssl rand -hex 32` gives 64). */
export const MIN_KEY_LENGTH = 32;

const encoder = new TextEncoder();

async function hmacHex(key: string, message: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(message)));
  return Array.from(sig, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Picks and checks the key: the key file's content (trimmed) when a file was given, otherwise
 * the environment variable. Values are never echoed in errors.
 *
 * @param opts.envValue `STAGECOACH_ANON_KEY`, if set
 * @param opts.fileContent the key file's content, if `--key-file` was given
 * @returns the key
 * @throws {Error} when there is no key, or it is shorter than {@link MIN_KEY_LENGTH}
 * @example
 * ```ts
 * const key = chooseAnonKey({ envValue: Deno.env.get("STAGECOACH_ANON_KEY") });
 * ```
 */
export function chooseAnonKey(opts: { envValue?: string; fileContent?: string }): string {
  const key = (opts.fileContent ?? opts.envValue ?? "").trim();
  const from = opts.fileContent !== undefined ? "the key file" : "STAGECOACH_ANON_KEY";
  if (!key) {
    throw new Error(
      "Cannot anonymize: no key given (set STAGECOACH_ANON_KEY or pass --key-file; there is no default key)",
    );
  }
  if (key.length < MIN_KEY_LENGTH) {
    throw new Error(
      `Cannot anonymize: the key in ${from} is shorter than ${MIN_KEY_LENGTH} characters`,
    );
  }
  return key;
}

/**
 * The key's fingerprint: 16 hex characters of HMAC(key, "stagecoach/fingerprint/v1"). Safe to
 * print and store; tells two runs' keys apart without revealing them.
 */
export async function keyFingerprint(key: string): Promise<string> {
  return (await hmacHex(key, "stagecoach/fingerprint/v1")).slice(0, 16);
}

/**
 * The key the source's SQL uses (`stagecoach.anon_key`): HMAC(key, "stagecoach/anonymize/v1")
 * as 64 hex characters. Deriving it keeps the operator's key out of every database session.
 */
export async function sqlKey(key: string): Promise<string> {
  return await hmacHex(key, "stagecoach/anonymize/v1");
}

const BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/**
 * A bcrypt salt derived from the key: the same key gives the same salt, so the test password's
 * hash (and every anonymized user's `encrypted_password`) is identical across runs.
 *
 * @param cost bcrypt cost, 4–12
 * @returns e.g. `$2a$10$` followed by 22 salt characters (the last one canonical)
 */
export async function bcryptSalt(key: string, cost: number): Promise<string> {
  const hex = await hmacHex(key, "stagecoach/password-salt/v1");
  const bytes = hex.match(/../g)!.map((h) => parseInt(h, 16));
  let salt = "";
  for (let i = 0; i < 21; i++) salt += BCRYPT_ALPHABET[bytes[i] % 64];
  // The 22nd character carries only 2 bits; canonical salts end in one of ".Oeu".
  salt += ".Oeu"[bytes[21] % 4];
  return `$2a$${String(cost).padStart(2, "0")}$${salt}`;
}

/** What a job's leak-scan seed is derived from (with the job id appended). */
export const LEAK_SEED_CONTEXT = "stagecoach/leak-scan/v1/";

/**
 * The seed of a job's leak-scan fingerprints: the first 8 bytes of HMAC(derived SQL key,
 * "stagecoach/leak-scan/v1/<job id>") as a signed 64-bit integer, in decimal. A resumed job gets
 * the same seed; nobody without the key can compute it, and it is never stored. The source
 * computes the same number in SQL from its session key ({@link leakSeedSql} in `validate.ts`).
 *
 * @param sqlKeyHex the derived SQL key ({@link sqlKey})
 * @param jobId the job's id
 * @example
 * ```ts
 * const seed = await leakSeed(await sqlKey(key), job.id); // e.g. "-3141592653589793238"
 * ```
 */
export async function leakSeed(sqlKeyHex: string, jobId: string): Promise<string> {
  const hex = (await hmacHex(sqlKeyHex, LEAK_SEED_CONTEXT + jobId)).slice(0, 16);
  return BigInt.asIntN(64, BigInt(`0x${hex}`)).toString();
}
