/**
 * Config bundles: a file that carries an environment's config entries to another environment
 * (`stagecoach config export` / `config import`, or to seed a new environment). Pure: values
 * in, text out and back; the caller reads and writes the database and the file.
 *
 * A bundle is pretty-printed JSON with lossless numbers (see `../json/lossless.ts`):
 *
 * ```json
 * {
 *   "format": "stagecoach.config-bundle",
 *   "version": 1,
 *   "source_env": "staging",
 *   "created_at": "2026-11-25T10:00:00.000Z",
 *   "kdf": { "alg": "PBKDF2-SHA256", "iterations": 600000, "salt": "<16 bytes, base64>" },
 *   "key_check": "<32 bytes, base64>",
 *   "entries": [
 *     { "key": "billing.api_key", "value": null, "description": null, "schema_version": 1,
 *       "env_specific": false, "is_secret": true, "secret_fingerprint": "sha256:0123456789abcdef",
 *       "secret": { "alg": "AES-256-GCM", "iv": "<12 bytes>", "ciphertext": "<…+16-byte tag>" } },
 *     { "key": "limits.max_seats", "value": 12345678901234567890, "description": "…",
 *       "schema_version": 1, "env_specific": false, "is_secret": false, "secret_fingerprint": null }
 *   ],
 *   "mac": "<32 bytes, base64>",
 *   "checksum": "sha256:<64 hex digits>"
 * }
 * ```
 *
 * Cryptography (format version 1):
 * - The transfer key (NFC-normalised UTF-8) goes through PBKDF2-HMAC-SHA256 with a random
 *   16-byte salt and `kdf.iterations` rounds (default {@link DEFAULT_KDF_ITERATIONS}) to 32
 *   bytes, which HKDF-SHA256 expands into three independent keys: one AES-256-GCM key for the
 *   secrets, one HMAC key for `key_check`, one HMAC key for `mac`. (Asking PBKDF2 itself for
 *   96 bytes would run it three times for us but only once for an attacker testing guesses.)
 * - `key_check` is an HMAC of a fixed label: it tells a wrong transfer key apart from tampering.
 * - Each secret is encrypted with AES-256-GCM under a random 12-byte IV; the additional
 *   authenticated data is `["stagecoach.config-bundle.v1 secret", key, fingerprint]` (canonical
 *   JSON), so a ciphertext moved to another entry, or paired with another fingerprint, fails.
 * - `mac` is an HMAC over the canonical JSON of everything but `mac` and `checksum`. The plain
 *   SHA-256 `checksum` catches corruption and truncation, but anyone can recompute it; the MAC
 *   makes every non-secret value tamper-evident to holders of the transfer key too.
 * - `checksum` is `sha256:` + hex SHA-256 of the canonical JSON of everything but itself.
 *
 * Why PBKDF2 rather than scrypt: it is native WebCrypto, so the same code runs in the CLI and
 * in an Edge Function, where scrypt's memory (128 MiB at a comparable strength) would press the
 * function's memory limit; 600,000 rounds is OWASP's 2023 figure for PBKDF2-HMAC-SHA256 and
 * costs ~0.2 s on our 2-core machine. Readers accept at most {@link MAX_KDF_ITERATIONS} rounds,
 * so a hostile bundle cannot make an import spin, and at least {@link MIN_KDF_ITERATIONS}, so
 * no weakly protected bundle is produced or trusted. A transfer key should still be a long
 * random string: PBKDF2 slows guessing, it cannot save a short passphrase.
 *
 * @module
 */
import { z } from "zod";
import {
  canonicalJson,
  JsonNumber,
  type JsonObject,
  type JsonValue,
  parseJson,
  sha256Hex,
} from "../json/lossless.ts";

/** The `format` every bundle carries. */
export const BUNDLE_FORMAT = "stagecoach.config-bundle";

/** The bundle format version this code writes and reads. */
export const BUNDLE_VERSION = 1;

/** PBKDF2 rounds used when sealing, unless a test asks for fewer. */
export const DEFAULT_KDF_ITERATIONS = 600_000;

/** Fewest PBKDF2 rounds a bundle may be sealed or opened with. */
export const MIN_KDF_ITERATIONS = 100_000;

/** Most PBKDF2 rounds a bundle may ask for (~0.8 s here): a hostile bundle cannot ask more. */
export const MAX_KDF_ITERATIONS = 2_000_000;

/** Shortest transfer key accepted, in characters (code points). */
export const MIN_TRANSFER_KEY_LENGTH = 16;

/**
 * One `public.app_config` row as it crosses environments. For a secret entry `value` is null
 * and the plaintext travels separately ({@link SecretPlaintexts}); for any other entry
 * `secret_fingerprint` is null and `value` is the JSON value (a JSON `null` is allowed).
 */
export type ConfigEntry = {
  key: string;
  value: JsonValue | null;
  description: string | null;
  schema_version: number;
  env_specific: boolean;
  is_secret: boolean;
  secret_fingerprint: string | null;
};

/** Plaintexts of the secret entries, by config key. */
export type SecretPlaintexts = Map<string, string>;

/** What {@link openBundle} returns. */
export type OpenedBundle = {
  sourceEnv: string;
  /** ISO 8601 time the bundle was sealed, as written in it. */
  createdAt: string;
  /** Entries sorted by key, secret ones with `value: null`. */
  entries: ConfigEntry[];
  secrets: SecretPlaintexts;
  /** The bundle's `checksum`, e.g. to record which bundle an import came from. */
  checksum: string;
};

/** Why a bundle was refused. */
export type BundleErrorCode =
  | "malformed"
  | "wrong_format"
  | "wrong_version"
  | "checksum_mismatch"
  | "wrong_key"
  | "tampered_secret"
  | "invalid_entry";

/**
 * A bundle that cannot be opened (or input that cannot be sealed). `message` reads
 * "Cannot open bundle: <what is wrong>"; `details` never holds a secret or the transfer key.
 */
export class BundleError extends Error {
  /** Machine-readable reason. */
  readonly code: BundleErrorCode;
  /** Extra facts for the error response, e.g. the zod issues or the versions. */
  readonly details: Record<string, unknown>;
  constructor(code: BundleErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "BundleError";
    this.code = code;
    this.details = details;
  }
}

/**
 * The fingerprint of a secret value, the same as the database's `private.secret_fingerprint`:
 * `'sha256:' + the first 16 hex digits of SHA-256('stagecoach.secret.v1:' || plaintext)`.
 *
 * @example
 * ```ts
 * await secretFingerprint("sk_test_123"); // "sha256:" + 16 hex digits
 * ```
 */
export async function secretFingerprint(plaintext: string): Promise<string> {
  return `sha256:${(await sha256Hex(`stagecoach.secret.v1:${plaintext}`)).slice(0, 16)}`;
}

// ---------------------------------------------------------------------------------------------
// The file's shape, checked over the lossless parse (numbers are JsonNumber there).

const KEY_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;
const ENV_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const INTEGER_PATTERN = /^-?(0|[1-9]\d*)$/;

function integerSchema(min: number, max: number, tooMany = `expected at most ${max}`) {
  return z
    .custom<JsonNumber>(
      (v) => v instanceof JsonNumber && INTEGER_PATTERN.test(v.text),
      "expected an integer",
    )
    .transform((n) => Number(n.text))
    .pipe(z.number().min(min, `expected at least ${min}`).max(max, tooMany));
}

function base64Schema(bytes: { exactly?: number; atLeast?: number }) {
  return z
    .string()
    .regex(BASE64_PATTERN, "expected base64")
    .refine(
      (s) => {
        const n = (s.length / 4) * 3 - (s.match(/=*$/)?.[0].length ?? 0);
        return bytes.exactly !== undefined ? n === bytes.exactly : n >= (bytes.atLeast ?? 0);
      },
      bytes.exactly !== undefined
        ? `expected ${bytes.exactly} bytes`
        : `expected at least ${bytes.atLeast} bytes`,
    );
}

const ConfigKeySchema = z
  .string()
  .max(128, "expected at most 128 characters")
  .regex(KEY_PATTERN, 'expected a config key like "billing.api_key"');
const FingerprintSchema = z
  .string()
  .regex(/^sha256:[0-9a-f]{16}$/, 'expected "sha256:" and 16 hex digits');
const EnvNameSchema = z.string().regex(ENV_PATTERN, 'expected an environment name like "staging"');
const JsonValueSchema = z.custom<JsonValue>((v) => v !== undefined, "expected a JSON value");

const entryFields = {
  key: ConfigKeySchema,
  description: z.string().nullable(),
  schema_version: integerSchema(1, 2_147_483_647),
  env_specific: z.boolean(),
};

const PlainEntrySchema = z.strictObject({
  ...entryFields,
  is_secret: z.literal(false),
  value: JsonValueSchema,
  secret_fingerprint: z.null("expected null: only secret entries have a fingerprint"),
});

const SecretEntrySchema = z.strictObject({
  ...entryFields,
  is_secret: z.literal(true),
  value: z.null("expected null: a secret entry travels only encrypted"),
  secret_fingerprint: FingerprintSchema,
  secret: z.strictObject({
    alg: z.literal("AES-256-GCM"),
    iv: base64Schema({ exactly: 12 }),
    ciphertext: base64Schema({ atLeast: 16 }),
  }),
});

const EntrySchema = z.discriminatedUnion("is_secret", [PlainEntrySchema, SecretEntrySchema], {
  error: "expected is_secret to be true or false",
});

const BundleFileSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  version: integerSchema(BUNDLE_VERSION, BUNDLE_VERSION),
  source_env: EnvNameSchema,
  created_at: z.iso.datetime("expected an ISO 8601 UTC time"),
  kdf: z.strictObject({
    alg: z.literal("PBKDF2-SHA256"),
    iterations: integerSchema(
      MIN_KDF_ITERATIONS,
      MAX_KDF_ITERATIONS,
      `expected at most ${MAX_KDF_ITERATIONS} (more is refused so a bundle cannot make an import spin)`,
    ),
    salt: base64Schema({ exactly: 16 }),
  }),
  key_check: base64Schema({ exactly: 32 }),
  entries: z.array(EntrySchema).superRefine((entries, ctx) => {
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      if (seen.has(entry.key)) {
        ctx.addIssue({ code: "custom", path: [i, "key"], message: "this key appears twice" });
      }
      seen.add(entry.key);
    });
  }),
  mac: base64Schema({ exactly: 32 }),
  checksum: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected "sha256:" and 64 hex digits'),
});

type BundleFile = z.infer<typeof BundleFileSchema>;
type SecretBox = z.infer<typeof SecretEntrySchema>["secret"];

// ---------------------------------------------------------------------------------------------
// Keys and encodings.

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const LABEL = "stagecoach.config-bundle.v1";

type BundleKeys = { secrets: CryptoKey; check: CryptoKey; mac: CryptoKey };

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function deriveKeys(
  transferKey: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<BundleKeys> {
  const password = await crypto.subtle.importKey(
    "raw",
    encoder.encode(transferKey.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const master = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    password,
    256,
  );
  const hkdf = await crypto.subtle.importKey("raw", master, "HKDF", false, ["deriveKey"]);
  const expand = (purpose: string, algorithm: AesKeyGenParams | HmacKeyGenParams) =>
    crypto.subtle.deriveKey(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: new Uint8Array(0),
        info: encoder.encode(`${LABEL} ${purpose}`),
      },
      hkdf,
      algorithm,
      false,
      algorithm.name === "AES-GCM" ? ["encrypt", "decrypt"] : ["sign", "verify"],
    );
  const hmac: HmacKeyGenParams = { name: "HMAC", hash: "SHA-256", length: 256 };
  const [secrets, check, mac] = await Promise.all([
    expand("secrets", { name: "AES-GCM", length: 256 }),
    expand("key check", hmac),
    expand("mac", hmac),
  ]);
  return { secrets, check, mac };
}

const KEY_CHECK_MESSAGE = encoder.encode(`${LABEL} key check`);

function secretAad(key: string, fingerprint: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(canonicalJson([`${LABEL} secret`, key, fingerprint]));
}

function withoutMembers(doc: JsonObject, names: string[]): JsonObject {
  return Object.fromEntries(Object.entries(doc).filter(([name]) => !names.includes(name)));
}

async function checksumOf(doc: JsonObject): Promise<string> {
  return `sha256:${await sha256Hex(canonicalJson(withoutMembers(doc, ["checksum"])))}`;
}

function macInput(doc: JsonObject): Uint8Array<ArrayBuffer> {
  return encoder.encode(canonicalJson(withoutMembers(doc, ["mac", "checksum"])));
}

/** Orders entries by key in UTF-16 code units, as canonical JSON orders object keys. */
function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function writeLossless(_key: string, value: unknown): unknown {
  return value instanceof JsonNumber ? JSON.rawJSON(value.text) : value;
}

// ---------------------------------------------------------------------------------------------
// Sealing.

/** Options for {@link sealBundle}. */
export type SealOptions = {
  /**
   * PBKDF2 rounds, {@link MIN_KDF_ITERATIONS} to {@link MAX_KDF_ITERATIONS}; default
   * {@link DEFAULT_KDF_ITERATIONS}. Lower it only to keep test suites fast.
   */
  kdfIterations?: number;
};

function sealError(message: string, details: Record<string, unknown> = {}): BundleError {
  return new BundleError("invalid_entry", `Cannot seal bundle: ${message}`, details);
}

/** Finds a value JSON cannot carry exactly (a JS number was already rounded), by path. */
function findInexactValue(value: unknown, path: string): string | null {
  if (value === null || typeof value === "boolean" || typeof value === "string") return null;
  if (value instanceof JsonNumber) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findInexactValue(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  const proto = typeof value === "object" ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const found = findInexactValue(v, `${path}.${k}`);
      if (found) return found;
    }
    return null;
  }
  return `${path} is a ${typeof value === "number" ? "JavaScript number" : typeof value}`;
}

async function checkSealInput(
  input: { sourceEnv: string; createdAt: Date; entries: ConfigEntry[]; secrets: SecretPlaintexts },
  transferKey: string,
  iterations: number,
): Promise<void> {
  if ([...transferKey].length < MIN_TRANSFER_KEY_LENGTH) {
    throw new BundleError(
      "wrong_key",
      `Cannot seal bundle: the transfer key is shorter than ${MIN_TRANSFER_KEY_LENGTH} characters`,
    );
  }
  if (
    !Number.isInteger(iterations) || iterations < MIN_KDF_ITERATIONS ||
    iterations > MAX_KDF_ITERATIONS
  ) {
    throw sealError(
      `kdfIterations must be an integer from ${MIN_KDF_ITERATIONS} to ${MAX_KDF_ITERATIONS}`,
    );
  }
  if (!ENV_PATTERN.test(input.sourceEnv)) {
    throw sealError(`source environment "${input.sourceEnv}" is not an environment name`);
  }
  if (Number.isNaN(input.createdAt.getTime())) throw sealError("createdAt is not a valid time");
  const seen = new Set<string>();
  for (const entry of input.entries) {
    const where = `entry "${entry.key}"`;
    if (!ConfigKeySchema.safeParse(entry.key).success) {
      throw sealError(`${JSON.stringify(entry.key)} is not a config key`);
    }
    if (seen.has(entry.key)) throw sealError(`${where} appears twice`);
    seen.add(entry.key);
    if (!Number.isInteger(entry.schema_version) || entry.schema_version < 1) {
      throw sealError(
        `${where} has schema_version ${entry.schema_version}, not a positive integer`,
      );
    }
    if (entry.is_secret) {
      if (entry.value !== null) throw sealError(`${where} is secret but has a value`);
      const plaintext = input.secrets.get(entry.key);
      if (plaintext === undefined) throw sealError(`${where} is secret but no plaintext was given`);
      if (entry.secret_fingerprint !== await secretFingerprint(plaintext)) {
        throw sealError(`${where}: the plaintext given does not match its secret_fingerprint`);
      }
    } else {
      if (entry.secret_fingerprint !== null) {
        throw sealError(`${where} is not secret but has a secret_fingerprint`);
      }
      const inexact = findInexactValue(entry.value, "value");
      if (inexact) {
        throw sealError(
          `${where}: ${inexact}; parse jsonb text with parseJson so numbers stay exact`,
        );
      }
    }
  }
  for (const key of input.secrets.keys()) {
    if (!input.entries.some((e) => e.key === key && e.is_secret)) {
      throw sealError(`a plaintext was given for "${key}", which is not a secret entry`);
    }
  }
}

/**
 * Seals config entries into bundle text: pretty JSON (2 spaces, numbers exactly as given),
 * entries sorted by key, secrets encrypted under the transfer key, a MAC and a checksum. No
 * secret plaintext is written. Each call draws a fresh salt and fresh IVs, so sealing the
 * same input twice gives different text.
 *
 * @param input `sourceEnv` (environment name), `createdAt`, `entries` (values parsed with
 *   `parseJson`, never JS numbers) and `secrets` (plaintext of every secret entry, no others)
 * @param transferKey the operator's transfer key (at least 16 characters)
 * @param options `kdfIterations` (tests only)
 * @returns the bundle file text, ending with a newline
 * @throws {BundleError} `invalid_entry` ("Cannot seal bundle: …") for a missing or extra
 *   plaintext, a plaintext that does not match its fingerprint, a duplicate or invalid key,
 *   a value holding a JS number; `wrong_key` for a transfer key that is too short
 * @example
 * ```ts
 * const text = await sealBundle(
 *   { sourceEnv: "staging", createdAt: new Date(), entries, secrets },
 *   await readTransferKey({}),
 * );
 * await Deno.writeTextFile("bundle.json", text);
 * ```
 */
export async function sealBundle(
  input: { sourceEnv: string; createdAt: Date; entries: ConfigEntry[]; secrets: SecretPlaintexts },
  transferKey: string,
  options: SealOptions = {},
): Promise<string> {
  const iterations = options.kdfIterations ?? DEFAULT_KDF_ITERATIONS;
  await checkSealInput(input, transferKey, iterations);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const keys = await deriveKeys(transferKey, salt, iterations);
  const sorted = [...input.entries].sort(byKey);
  const entries: JsonObject[] = [];
  for (const entry of sorted) {
    const out: JsonObject = {
      key: entry.key,
      value: entry.is_secret ? null : entry.value,
      description: entry.description,
      schema_version: new JsonNumber(String(entry.schema_version)),
      env_specific: entry.env_specific,
      is_secret: entry.is_secret,
      secret_fingerprint: entry.secret_fingerprint,
    };
    if (entry.is_secret) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ciphertext = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: secretAad(entry.key, entry.secret_fingerprint!) },
        keys.secrets,
        encoder.encode(input.secrets.get(entry.key)!),
      );
      out.secret = {
        alg: "AES-256-GCM",
        iv: toBase64(iv),
        ciphertext: toBase64(new Uint8Array(ciphertext)),
      };
    }
    entries.push(out);
  }
  const doc: JsonObject = {
    format: BUNDLE_FORMAT,
    version: new JsonNumber(String(BUNDLE_VERSION)),
    source_env: input.sourceEnv,
    created_at: input.createdAt.toISOString(),
    kdf: {
      alg: "PBKDF2-SHA256",
      iterations: new JsonNumber(String(iterations)),
      salt: toBase64(salt),
    },
    key_check: toBase64(
      new Uint8Array(await crypto.subtle.sign("HMAC", keys.check, KEY_CHECK_MESSAGE)),
    ),
    entries,
  };
  doc.mac = toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", keys.mac, macInput(doc))));
  doc.checksum = await checksumOf(doc);
  return `${JSON.stringify(doc, writeLossless, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Opening.

function refuse(
  code: BundleErrorCode,
  reason: string,
  details: Record<string, unknown> = {},
): BundleError {
  return new BundleError(code, `Cannot open bundle: ${reason}`, details);
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) &&
    !(value instanceof JsonNumber);
}

function shortJson(value: JsonValue): string {
  const text = canonicalJson(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function parseDocument(text: string): JsonObject {
  if (text.trim() === "") throw refuse("malformed", "the file is empty");
  let doc: JsonValue;
  try {
    doc = parseJson(text);
  } catch (err) {
    throw refuse(
      "malformed",
      `it is not valid JSON, perhaps truncated (${(err as Error).message})`,
    );
  }
  if (!isObject(doc)) throw refuse("malformed", "it is not a JSON object");
  if (doc.format !== BUNDLE_FORMAT) {
    throw refuse(
      "wrong_format",
      doc.format === undefined
        ? `it has no "format", so it is not a Stagecoach config bundle`
        : `its format is ${shortJson(doc.format)}, not "${BUNDLE_FORMAT}"`,
      { expected: BUNDLE_FORMAT },
    );
  }
  const version = doc.version;
  if (!(version instanceof JsonNumber) || version.text !== String(BUNDLE_VERSION)) {
    throw refuse(
      "wrong_version",
      version === undefined
        ? `it has no "version" (this Stagecoach reads version ${BUNDLE_VERSION})`
        : `it is version ${
          shortJson(version)
        }, but this Stagecoach reads only version ${BUNDLE_VERSION}`,
      { version: version === undefined ? null : shortJson(version), supported: [BUNDLE_VERSION] },
    );
  }
  return doc;
}

function describePath(path: PropertyKey[], doc: JsonObject): string {
  let text = "";
  for (const part of path) {
    text += typeof part === "number" ? `[${part}]` : `${text ? "." : ""}${String(part)}`;
  }
  const entries = doc.entries;
  if (path[0] === "entries" && typeof path[1] === "number" && Array.isArray(entries)) {
    const entry = entries[path[1]];
    if (isObject(entry) && typeof entry.key === "string") text += ` (key "${entry.key}")`;
  }
  return text || "bundle";
}

function validate(doc: JsonObject): BundleFile {
  const parsed = BundleFileSchema.safeParse(doc);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: describePath(issue.path, doc),
    message: issue.message,
  }));
  const shown = issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`);
  if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`);
  throw refuse("invalid_entry", shown.join("; "), { issues });
}

async function decryptSecret(
  keys: BundleKeys,
  key: string,
  fingerprint: string,
  box: SecretBox,
): Promise<string> {
  let plaintext: string;
  try {
    const bytes = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64(box.iv), additionalData: secretAad(key, fingerprint) },
      keys.secrets,
      fromBase64(box.ciphertext),
    );
    plaintext = decoder.decode(bytes);
  } catch {
    throw refuse(
      "tampered_secret",
      `the secret of "${key}" does not decrypt (its ciphertext was altered or belongs to another entry)`,
      { key },
    );
  }
  if (await secretFingerprint(plaintext) !== fingerprint) {
    throw refuse("tampered_secret", `the secret of "${key}" does not match its fingerprint`, {
      key,
    });
  }
  return plaintext;
}

/**
 * Opens bundle text sealed by {@link sealBundle}: checks format, version, structure,
 * checksum, transfer key, every secret and the MAC, in that order, and returns the entries
 * only when all pass (so a caller writes nothing from a bad bundle).
 *
 * @param text the bundle file text
 * @param transferKey the transfer key it was sealed with
 * @returns source environment, seal time, entries sorted by key (values with exact numbers,
 *   secrets as `value: null`), the secrets' plaintexts by key, and the bundle's checksum
 * @throws {BundleError} "Cannot open bundle: …" with code `malformed` (not JSON, truncated,
 *   empty), `wrong_format`, `wrong_version` (names both versions), `invalid_entry` (names the
 *   path, e.g. `entries[2].schema_version (key "a.b")`), `checksum_mismatch` (altered or
 *   truncated after sealing, checksum or MAC), `wrong_key`, `tampered_secret` (names the key)
 * @example
 * ```ts
 * const { entries, secrets, checksum } = await openBundle(
 *   await Deno.readTextFile("bundle.json"),
 *   await readTransferKey({}),
 * );
 * ```
 */
export async function openBundle(text: string, transferKey: string): Promise<OpenedBundle> {
  const doc = parseDocument(text);
  const bundle = validate(doc);
  const checksum = await checksumOf(doc);
  if (checksum !== bundle.checksum) {
    throw refuse(
      "checksum_mismatch",
      "its checksum does not match its contents (the file was changed or truncated after it was sealed)",
      { expected: bundle.checksum, actual: checksum },
    );
  }
  const keys = await deriveKeys(transferKey, fromBase64(bundle.kdf.salt), bundle.kdf.iterations);
  if (
    !await crypto.subtle.verify("HMAC", keys.check, fromBase64(bundle.key_check), KEY_CHECK_MESSAGE)
  ) {
    throw refuse("wrong_key", "the transfer key is not the one it was sealed with");
  }
  const secrets: SecretPlaintexts = new Map();
  for (const entry of bundle.entries) {
    if (entry.is_secret) {
      secrets.set(
        entry.key,
        await decryptSecret(keys, entry.key, entry.secret_fingerprint, entry.secret),
      );
    }
  }
  if (!await crypto.subtle.verify("HMAC", keys.mac, fromBase64(bundle.mac), macInput(doc))) {
    throw refuse(
      "checksum_mismatch",
      "its contents were changed after it was sealed (the checksum was recomputed, but the MAC made with the transfer key does not match)",
    );
  }
  const entries: ConfigEntry[] = bundle.entries
    .map((e) => ({
      key: e.key,
      value: e.value,
      description: e.description,
      schema_version: e.schema_version,
      env_specific: e.env_specific,
      is_secret: e.is_secret,
      secret_fingerprint: e.secret_fingerprint,
    }))
    .sort(byKey);
  return {
    sourceEnv: bundle.source_env,
    createdAt: bundle.created_at,
    entries,
    secrets,
    checksum: bundle.checksum,
  };
}
