import assert from "node:assert/strict";
import {
  chooseBackupKey,
  createSealer,
  deriveBackupKeys,
  keyFingerprint,
  MIN_KDF_ITERATIONS,
  openChunks,
} from "./crypto.ts";
import { BackupError } from "./manifest.ts";

const KEY = "a long random operator key 0123";
const prefix = new Uint8Array(8).fill(7);

async function sealed(text: string, file = "t0001.copy.enc"): Promise<Uint8Array[]> {
  const { file: key } = await deriveBackupKeys(KEY, new Uint8Array(16), MIN_KDF_ITERATIONS);
  const records: Uint8Array[] = [];
  const sealer = createSealer(key, {
    file,
    noncePrefix: prefix,
    chunkSize: 4,
    write: (r) => Promise.resolve(void records.push(r)),
  });
  await sealer.write(new TextEncoder().encode(text));
  await sealer.close();
  return records;
}

async function open(records: Uint8Array[], file = "t0001.copy.enc"): Promise<string> {
  const { file: key } = await deriveBackupKeys(KEY, new Uint8Array(16), MIN_KDF_ITERATIONS);
  async function* source() {
    for (const r of records) yield r;
  }
  let out = "";
  for await (const p of openChunks(key, source(), { file, noncePrefix: prefix })) {
    out += new TextDecoder().decode(p);
  }
  return out;
}

async function refusal(records: Uint8Array[], file?: string): Promise<BackupError> {
  try {
    await open(records, file);
  } catch (err) {
    assert.ok(err instanceof BackupError, String(err));
    return err;
  }
  throw new Error("expected a refusal");
}

Deno.test("openChunks gives back what createSealer sealed, over many chunks", async () => {
  const records = await sealed("hello chunked world");
  assert.equal(records.length, 5);
  assert.equal(await open(records), "hello chunked world");
  assert.equal(await open(await sealed("")), "");
});

Deno.test("openChunks names the chunk that was changed, dropped, moved or cut", async () => {
  const records = await sealed("0123456789ab");
  const changed = records.map((r) => r.slice());
  changed[1][6] ^= 1;
  assert.match((await refusal(changed)).message, /t0001\.copy\.enc: chunk 1 fails authentication/);
  const err = await refusal(records.slice(0, -1));
  assert.equal(err.code, "truncated");
  assert.match(err.message, /ends after chunk 1 without its final chunk/);
  assert.match(
    (await refusal([records[1], records[0], records[2]])).message,
    /chunk 0 fails authentication/,
  );
  const cut = [...records.slice(0, -1), records[2].slice(0, 10)];
  assert.match((await refusal(cut)).message, /chunk 2 is cut short/);
  assert.match((await refusal(records, "t0002.copy.enc")).message, /t0002.copy.enc: chunk 0/);
});

Deno.test("keyFingerprint is stable per key and tells keys apart", async () => {
  const a = await keyFingerprint(KEY, MIN_KDF_ITERATIONS);
  assert.match(a, /^pbkdf2:[0-9a-f]{16}$/);
  assert.equal(await keyFingerprint(KEY, MIN_KDF_ITERATIONS), a);
  assert.notEqual(await keyFingerprint(`${KEY}x`, MIN_KDF_ITERATIONS), a);
});

Deno.test("chooseBackupKey prefers the file and refuses short or missing keys", () => {
  assert.equal(chooseBackupKey({ envValue: "x".repeat(20), fileContent: `${KEY}\n` }), KEY);
  assert.throws(() => chooseBackupKey({}), /Missing backup key/);
  assert.throws(() => chooseBackupKey({ envValue: "short" }), /at least 16/);
});
