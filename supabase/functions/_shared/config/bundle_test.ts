import assert from "node:assert/strict";
import {
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  BundleError,
  type BundleErrorCode,
  type ConfigEntry,
  DEFAULT_KDF_ITERATIONS,
  MIN_KDF_ITERATIONS,
  openBundle,
  sealBundle,
  secretFingerprint,
  type SecretPlaintexts,
} from "./bundle.ts";
import {
  canonicalJson,
  JsonNumber,
  type JsonObject,
  type JsonValue,
  parseJson,
  sha256Hex,
} from "../json/lossless.ts";

const KEY = "correct-horse-battery-staple-42";
const FAST = { kdfIterations: MIN_KDF_ITERATIONS };
const CREATED_AT = new Date("2026-11-25T10:00:00.000Z");
const API_KEY = "sk_live_51HxYzAbCdEfGhIjKlMnOpQrStUvWxYz";
const WEBHOOK_SECRET = "whsec_c2VjcmV0LXZhbHVlLW5vdC10by1sZWFr";

function deep(levels: number): string {
  return "[".repeat(levels) + '{"bottom": 12345678901234567890}' + "]".repeat(levels);
}

const TRICKY_VALUES: Record<string, string> = {
  "numbers.big": "123456789012345678901234567890",
  "numbers.beyond_2_53": "9007199254740993",
  "numbers.long_decimal": "0.1000000000000000000000000000000001",
  "numbers.negative_zero": "-0.0",
  "numbers.huge_exponent": "1e400",
  "text.unicode": '"emoji 😀🏳️‍🌈, combining e\\u0301 vs é, nul \\u0000, rtl \\u202e, \\ud83d\\ude00"',
  "nested.deep": deep(100),
  "empty.object": "{}",
  "empty.array": "[]",
  "json.null": "null",
  "json.proto": '{"__proto__": {"polluted": true}, "constructor": 1}',
  "json.mixed": '{"z": [1.50, -2E-7, true, null, "x"], "a": {"b": {}}}',
};

function plainEntry(key: string, value: JsonValue, extra: Partial<ConfigEntry> = {}): ConfigEntry {
  return {
    key,
    value,
    description: null,
    schema_version: 1,
    env_specific: false,
    is_secret: false,
    secret_fingerprint: null,
    ...extra,
  };
}

async function secretEntry(key: string, plaintext: string): Promise<ConfigEntry> {
  return {
    key,
    value: null,
    description: `secret ${key}`,
    schema_version: 1,
    env_specific: false,
    is_secret: true,
    secret_fingerprint: await secretFingerprint(plaintext),
  };
}

async function sampleInput(): Promise<
  { sourceEnv: string; createdAt: Date; entries: ConfigEntry[]; secrets: SecretPlaintexts }
> {
  return {
    sourceEnv: "staging",
    createdAt: CREATED_AT,
    entries: [
      plainEntry("site_url", parseJson('"https://staging.example.com"'), {
        env_specific: true,
        description: "Where the app lives — déjà vu",
      }),
      await secretEntry("stripe.api_key", API_KEY),
      plainEntry("billing.trial_days", parseJson("14"), { schema_version: 3 }),
      await secretEntry("stripe.webhook_secret", WEBHOOK_SECRET),
    ],
    secrets: new Map([["stripe.api_key", API_KEY], ["stripe.webhook_secret", WEBHOOK_SECRET]]),
  };
}

async function sampleBundle(): Promise<string> {
  return await sealBundle(await sampleInput(), KEY, FAST);
}

/** Edits a sealed bundle the way an attacker would; recomputes the plain checksum if asked. */
async function edit(
  text: string,
  change: (doc: JsonObject) => void,
  opts: { recomputeChecksum?: boolean } = {},
): Promise<string> {
  const doc = parseJson(text) as JsonObject;
  change(doc);
  if (opts.recomputeChecksum) {
    const { checksum: _, ...rest } = doc;
    doc.checksum = `sha256:${await sha256Hex(canonicalJson(rest))}`;
  }
  return JSON.stringify(
    doc,
    (_k, v) => v instanceof JsonNumber ? JSON.rawJSON(v.text) : v,
    2,
  );
}

function entryOf(doc: JsonObject, key: string): JsonObject {
  const found = (doc.entries as JsonObject[]).find((e) => e.key === key);
  assert.ok(found, `no entry ${key}`);
  return found;
}

async function assertRefused(
  opening: Promise<unknown>,
  code: BundleErrorCode,
  message: RegExp,
): Promise<BundleError> {
  const err = await opening.then(
    () => assert.fail(`expected a BundleError ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BundleError, `expected a BundleError, got ${err}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, /^Cannot (open|seal) bundle: /);
  assert.match(err.message, message);
  assert.ok(!err.message.includes(API_KEY) && !err.message.includes(KEY), "leaks a secret");
  assert.ok(!JSON.stringify(err.details).includes(API_KEY), "details leak a secret");
  return err;
}

Deno.test("secretFingerprint matches the database's private.secret_fingerprint", async () => {
  // Vectors from `printf 'stagecoach.secret.v1:<value>' | sha256sum | cut -c1-16`.
  assert.equal(await secretFingerprint("sk_test_123"), "sha256:e2c6e88d62031e72");
  assert.equal(await secretFingerprint("clé 🔑 e\u0301"), "sha256:bf188e585fa648b7");
});

Deno.test("sealBundle and openBundle keep every value exactly", async () => {
  const entries = Object.entries(TRICKY_VALUES).map(([key, text]) =>
    plainEntry(key, parseJson(text), { description: "ünïcödé 😀 \u0000" })
  );
  const text = await sealBundle(
    { sourceEnv: "development", createdAt: CREATED_AT, entries, secrets: new Map() },
    KEY,
    FAST,
  );
  const opened = await openBundle(text, KEY);
  assert.equal(opened.entries.length, entries.length);
  for (const entry of opened.entries) {
    assert.equal(
      canonicalJson(entry.value),
      canonicalJson(parseJson(TRICKY_VALUES[entry.key])),
      entry.key,
    );
    assert.equal(entry.description, "ünïcödé 😀 \u0000");
  }
  assert.ok(text.includes("123456789012345678901234567890"));
  assert.ok(text.includes("0.1000000000000000000000000000000001"));
  assert.ok(text.includes("-0.0"));
  assert.ok(text.includes("1e400"));
  const proto = opened.entries.find((e) => e.key === "json.proto")!.value as JsonObject;
  assert.ok(Object.hasOwn(proto, "__proto__"));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("openBundle returns the entries, secrets, source and checksum that were sealed", async () => {
  const input = await sampleInput();
  const text = await sealBundle(input, KEY, FAST);
  const opened = await openBundle(text, KEY);
  assert.equal(opened.sourceEnv, "staging");
  assert.equal(opened.createdAt, "2026-11-25T10:00:00.000Z");
  assert.deepEqual(
    opened.entries.map((e) => ({ ...e, value: e.value === null ? null : canonicalJson(e.value) })),
    [...input.entries]
      .sort((a, b) => a.key.localeCompare(b.key))
      .map((e) => ({ ...e, value: e.value === null ? null : canonicalJson(e.value) })),
  );
  assert.deepEqual(opened.secrets, input.secrets);
  assert.equal(opened.checksum, (parseJson(text) as JsonObject).checksum);
});

Deno.test("sealBundle writes pretty JSON with the documented fields and entries sorted by key", async () => {
  const text = await sampleBundle();
  assert.match(text, /^\{\n {2}"format": "stagecoach\.config-bundle",\n {2}"version": 1,\n/);
  assert.ok(text.endsWith("}\n"));
  const doc = parseJson(text) as JsonObject;
  assert.deepEqual(Object.keys(doc), [
    "format",
    "version",
    "source_env",
    "created_at",
    "kdf",
    "key_check",
    "entries",
    "mac",
    "checksum",
  ]);
  assert.equal(doc.format, BUNDLE_FORMAT);
  assert.equal(String(doc.version), String(BUNDLE_VERSION));
  const kdf = doc.kdf as JsonObject;
  assert.equal(kdf.alg, "PBKDF2-SHA256");
  assert.equal(String(kdf.iterations), String(MIN_KDF_ITERATIONS));
  const keys = (doc.entries as JsonObject[]).map((e) => e.key);
  assert.deepEqual(keys, [
    "billing.trial_days",
    "site_url",
    "stripe.api_key",
    "stripe.webhook_secret",
  ]);
  const secret = entryOf(doc, "stripe.api_key");
  assert.equal(secret.value, null);
  assert.equal(secret.secret_fingerprint, await secretFingerprint(API_KEY));
  assert.equal((secret.secret as JsonObject).alg, "AES-256-GCM");
  assert.equal("secret" in entryOf(doc, "site_url"), false);
});

Deno.test("sealBundle's checksum is the SHA-256 of the canonical JSON of everything else", async () => {
  const doc = parseJson(await sampleBundle()) as JsonObject;
  const { checksum, ...rest } = doc;
  assert.equal(checksum, `sha256:${await sha256Hex(canonicalJson(rest))}`);
});

Deno.test("sealBundle defaults to the secure PBKDF2 iteration count", async () => {
  const input = { sourceEnv: "staging", createdAt: CREATED_AT, entries: [], secrets: new Map() };
  const text = await sealBundle(input, KEY);
  const kdf = (parseJson(text) as JsonObject).kdf as JsonObject;
  assert.equal(String(kdf.iterations), String(DEFAULT_KDF_ITERATIONS));
  assert.ok(DEFAULT_KDF_ITERATIONS >= 600_000);
  assert.deepEqual((await openBundle(text, KEY)).entries, []);
});

Deno.test("sealBundle never writes a secret's plaintext", async () => {
  const text = await sampleBundle();
  for (const plaintext of [API_KEY, WEBHOOK_SECRET]) {
    assert.ok(!text.includes(plaintext));
    assert.ok(!text.includes(btoa(plaintext)));
    assert.ok(!text.includes(plaintext.slice(8, 24)));
  }
  assert.ok(!text.includes(KEY));
});

Deno.test("sealBundle draws a fresh salt and IVs each time, and each checksum follows the rule", async () => {
  const [a, b] = [await sampleBundle(), await sampleBundle()];
  const [docA, docB] = [parseJson(a) as JsonObject, parseJson(b) as JsonObject];
  assert.notEqual((docA.kdf as JsonObject).salt, (docB.kdf as JsonObject).salt);
  const boxA = entryOf(docA, "stripe.api_key").secret as JsonObject;
  const boxB = entryOf(docB, "stripe.api_key").secret as JsonObject;
  assert.notEqual(boxA.iv, boxB.iv);
  assert.notEqual(boxA.ciphertext, boxB.ciphertext);
  assert.notEqual(docA.checksum, docB.checksum);
  for (const doc of [docA, docB]) {
    const { checksum, ...rest } = doc;
    assert.equal(checksum, `sha256:${await sha256Hex(canonicalJson(rest))}`);
  }
  const [openedA, openedB] = [await openBundle(a, KEY), await openBundle(b, KEY)];
  assert.deepEqual(openedA.secrets, openedB.secrets);
  assert.equal(
    canonicalJson(openedA.entries.map((e) => e.value)),
    canonicalJson(openedB.entries.map((e) => e.value)),
  );
});

Deno.test("sealBundle refuses a secret entry without its plaintext", async () => {
  const input = await sampleInput();
  input.secrets.delete("stripe.api_key");
  await assertRefused(
    sealBundle(input, KEY, FAST),
    "invalid_entry",
    /entry "stripe\.api_key" is secret but no plaintext was given/,
  );
});

Deno.test("sealBundle refuses a plaintext that does not match the entry's fingerprint", async () => {
  const input = await sampleInput();
  input.secrets.set("stripe.api_key", "sk_live_something_else");
  await assertRefused(
    sealBundle(input, KEY, FAST),
    "invalid_entry",
    /"stripe\.api_key": the plaintext given does not match its secret_fingerprint/,
  );
});

Deno.test("sealBundle refuses a plaintext for a key that is not a secret entry", async () => {
  const input = await sampleInput();
  input.secrets.set("site_url", "https://x.example.com");
  await assertRefused(
    sealBundle(input, KEY, FAST),
    "invalid_entry",
    /plaintext was given for "site_url", which is not a secret entry/,
  );
});

Deno.test("sealBundle refuses values holding JavaScript numbers, which are already inexact", async () => {
  const input = await sampleInput();
  input.entries.push(plainEntry("limits.api", { burst: 9007199254740993 } as unknown as JsonValue));
  await assertRefused(
    sealBundle(input, KEY, FAST),
    "invalid_entry",
    /"limits\.api": value\.burst is a JavaScript number/,
  );
});

Deno.test("sealBundle refuses duplicate keys, bad keys, a short transfer key and weak KDF settings", async () => {
  const input = await sampleInput();
  await assertRefused(
    sealBundle({ ...input, entries: [...input.entries, input.entries[0]] }, KEY, FAST),
    "invalid_entry",
    /entry "site_url" appears twice/,
  );
  await assertRefused(
    sealBundle({ ...input, entries: [plainEntry("Bad Key", null)], secrets: new Map() }, KEY, FAST),
    "invalid_entry",
    /"Bad Key" is not a config key/,
  );
  await assertRefused(
    sealBundle(input, "short-key", FAST),
    "wrong_key",
    /shorter than 16 characters/,
  );
  await assertRefused(
    sealBundle(input, KEY, { kdfIterations: 1000 }),
    "invalid_entry",
    /kdfIterations must be an integer from 100000 to 2000000/,
  );
});

Deno.test("openBundle refuses a truncated file as malformed JSON", async () => {
  const text = await sampleBundle();
  await assertRefused(
    openBundle(text.slice(0, Math.floor(text.length / 2)), KEY),
    "malformed",
    /it is not valid JSON, perhaps truncated/,
  );
  await assertRefused(openBundle("", KEY), "malformed", /the file is empty/);
  await assertRefused(openBundle("[1, 2]", KEY), "malformed", /not a JSON object/);
});

Deno.test("openBundle refuses a bundle whose entries were cut off with a checksum mismatch", async () => {
  const text = await edit(await sampleBundle(), (doc) => {
    (doc.entries as JsonValue[]).pop();
  });
  await assertRefused(
    openBundle(text, KEY),
    "checksum_mismatch",
    /its checksum does not match its contents/,
  );
});

Deno.test("openBundle refuses a changed value with a checksum mismatch", async () => {
  const change = (doc: JsonObject) => {
    entryOf(doc, "billing.trial_days").value = new JsonNumber("15");
  };
  await assertRefused(
    openBundle(await edit(await sampleBundle(), change), KEY),
    "checksum_mismatch",
    /its checksum does not match its contents \(the file was changed or truncated/,
  );
});

Deno.test("openBundle refuses a changed value even when the plain checksum was recomputed", async () => {
  const change = (doc: JsonObject) => {
    entryOf(doc, "site_url").value = "https://attacker.example.com";
  };
  const text = await edit(await sampleBundle(), change, { recomputeChecksum: true });
  await assertRefused(
    openBundle(text, KEY),
    "checksum_mismatch",
    /changed after it was sealed \(the checksum was recomputed, but the MAC/,
  );
});

Deno.test("openBundle refuses another format version and names both versions", async () => {
  const text = await edit(await sampleBundle(), (doc) => {
    doc.version = new JsonNumber("2");
  });
  const err = await assertRefused(
    openBundle(text, KEY),
    "wrong_version",
    /it is version 2, but this Stagecoach reads only version 1/,
  );
  assert.deepEqual(err.details, { version: "2", supported: [1] });
});

Deno.test("openBundle refuses a file of another format", async () => {
  const other = await edit(await sampleBundle(), (doc) => {
    doc.format = "terraform.plan";
  });
  await assertRefused(
    openBundle(other, KEY),
    "wrong_format",
    /its format is "terraform\.plan", not "stagecoach\.config-bundle"/,
  );
  await assertRefused(
    openBundle('{"hello": "world"}', KEY),
    "wrong_format",
    /it has no "format", so it is not a Stagecoach config bundle/,
  );
});

Deno.test("openBundle refuses a wrong transfer key as such", async () => {
  await assertRefused(
    openBundle(await sampleBundle(), "another-transfer-key-of-ours"),
    "wrong_key",
    /the transfer key is not the one it was sealed with/,
  );
});

Deno.test("openBundle refuses a flipped ciphertext byte and names the entry", async () => {
  const flip = (doc: JsonObject) => {
    const box = entryOf(doc, "stripe.api_key").secret as JsonObject;
    const bytes = Uint8Array.from(atob(box.ciphertext as string), (c) => c.charCodeAt(0));
    bytes[3] ^= 0x01;
    box.ciphertext = btoa(String.fromCharCode(...bytes));
  };
  const text = await sampleBundle();
  await assertRefused(
    openBundle(await edit(text, flip, { recomputeChecksum: true }), KEY),
    "tampered_secret",
    /the secret of "stripe\.api_key" does not decrypt/,
  );
  await assertRefused(
    openBundle(await edit(text, flip), KEY),
    "checksum_mismatch",
    /checksum does not match/,
  );
});

Deno.test("openBundle refuses a ciphertext moved to another entry", async () => {
  const move = (doc: JsonObject) => {
    entryOf(doc, "stripe.webhook_secret").secret = entryOf(doc, "stripe.api_key").secret;
  };
  const text = await edit(await sampleBundle(), move, { recomputeChecksum: true });
  await assertRefused(
    openBundle(text, KEY),
    "tampered_secret",
    /the secret of "stripe\.webhook_secret" does not decrypt \(its ciphertext was altered or belongs to another entry\)/,
  );
});

Deno.test("openBundle refuses a secret whose fingerprint was swapped", async () => {
  const fingerprint = await secretFingerprint("sk_live_attacker_controlled");
  const swap = (doc: JsonObject) => {
    entryOf(doc, "stripe.api_key").secret_fingerprint = fingerprint;
  };
  const text = await edit(await sampleBundle(), swap, { recomputeChecksum: true });
  await assertRefused(
    openBundle(text, KEY),
    "tampered_secret",
    /the secret of "stripe\.api_key" does not decrypt/,
  );
});

Deno.test("openBundle refuses an entry without a required field and names its path", async () => {
  const text = await edit(await sampleBundle(), (doc) => {
    delete entryOf(doc, "site_url").schema_version;
  });
  const err = await assertRefused(
    openBundle(text, KEY),
    "invalid_entry",
    /entries\[1\]\.schema_version \(key "site_url"\): expected an integer/,
  );
  assert.deepEqual(err.details.issues, [
    { path: 'entries[1].schema_version (key "site_url")', message: "expected an integer" },
  ]);
});

Deno.test("openBundle refuses a secret entry that carries a plaintext value", async () => {
  const text = await edit(await sampleBundle(), (doc) => {
    entryOf(doc, "stripe.webhook_secret").value = "whsec_leaked";
  });
  await assertRefused(
    openBundle(text, KEY),
    "invalid_entry",
    /entries\[3\]\.value \(key "stripe\.webhook_secret"\): expected null: a secret entry travels only encrypted/,
  );
});

Deno.test("openBundle refuses duplicate keys, unknown fields and a missing source", async () => {
  const text = await sampleBundle();
  await assertRefused(
    openBundle(
      await edit(text, (doc) => {
        (doc.entries as JsonObject[])[1].key = "billing.trial_days";
      }),
      KEY,
    ),
    "invalid_entry",
    /entries\[1\]\.key \(key "billing\.trial_days"\): this key appears twice/,
  );
  await assertRefused(
    openBundle(await edit(text, (doc) => void (doc.comment = "hi")), KEY),
    "invalid_entry",
    /bundle: Unrecognized key: "comment"/,
  );
  await assertRefused(
    openBundle(await edit(text, (doc) => void delete doc.source_env), KEY),
    "invalid_entry",
    /source_env: Invalid input: expected string, received undefined/,
  );
});

Deno.test("openBundle refuses a bundle asking for too many KDF iterations", async () => {
  const text = await edit(await sampleBundle(), (doc) => {
    (doc.kdf as JsonObject).iterations = new JsonNumber("1000000000");
  }, { recomputeChecksum: true });
  await assertRefused(
    openBundle(text, KEY),
    "invalid_entry",
    /kdf\.iterations: expected at most 2000000 \(more is refused/,
  );
});
