import assert from "node:assert/strict";
import { MAX_KEY_FILE_BYTES, readTransferKey, TRANSFER_KEY_ENV } from "./transfer_key.ts";

const GOOD_KEY = "tk_4f9c2a7e1b3d8c6f0a5e";

async function withKeyFile<T>(content: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "stagecoach-transfer-key-" });
  const path = `${dir}/transfer.key`;
  try {
    await Deno.writeTextFile(path, content);
    return await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertRefused(reading: Promise<string>, message: RegExp, secret?: string) {
  const err = await reading.then(
    () => assert.fail("expected readTransferKey to refuse"),
    (e: unknown) => e as Error,
  );
  assert.match(err.message, /^Cannot read transfer key: /);
  assert.match(err.message, message);
  if (secret) assert.ok(!err.message.includes(secret), "the error quotes the key");
}

Deno.test("readTransferKey reads STAGECOACH_TRANSFER_KEY", async () => {
  assert.equal(await readTransferKey({ env: { [TRANSFER_KEY_ENV]: GOOD_KEY } }), GOOD_KEY);
});

Deno.test("readTransferKey reads a key file and trims its trailing newline", async () => {
  await withKeyFile(`${GOOD_KEY}\n`, async (path) => {
    assert.equal(await readTransferKey({ keyFile: path, env: {} }), GOOD_KEY);
  });
  await withKeyFile(`\uFEFF${GOOD_KEY}\r\n\r\n`, async (path) => {
    assert.equal(await readTransferKey({ keyFile: path, env: {} }), GOOD_KEY);
  });
});

Deno.test("readTransferKey keeps inner and leading spaces as part of a passphrase", async () => {
  const passphrase = "  correct horse battery staple ";
  await withKeyFile(`${passphrase}\n`, async (path) => {
    assert.equal(await readTransferKey({ keyFile: path }), passphrase);
  });
});

Deno.test("readTransferKey prefers an explicit key file over the environment", async () => {
  await withKeyFile(GOOD_KEY, async (path) => {
    const env = { [TRANSFER_KEY_ENV]: "another-key-from-the-environment" };
    assert.equal(await readTransferKey({ keyFile: path, env }), GOOD_KEY);
  });
});

Deno.test("readTransferKey refuses when no key is given", async () => {
  await assertRefused(
    readTransferKey({ env: {} }),
    /set STAGECOACH_TRANSFER_KEY or give a key file/,
  );
});

Deno.test("readTransferKey refuses an empty key", async () => {
  await assertRefused(
    readTransferKey({ env: { [TRANSFER_KEY_ENV]: "" } }),
    /STAGECOACH_TRANSFER_KEY is empty/,
  );
  await withKeyFile(" \n\n", async (path) => {
    await assertRefused(readTransferKey({ keyFile: path }), /key file .* is empty/);
  });
});

Deno.test("readTransferKey refuses a key shorter than 16 characters without quoting it", async () => {
  const short = "s3cr3t-short";
  await assertRefused(
    readTransferKey({ env: { [TRANSFER_KEY_ENV]: short } }),
    /the key in STAGECOACH_TRANSFER_KEY is shorter than 16 characters/,
    short,
  );
  await withKeyFile(`${short}\n`, async (path) => {
    await assertRefused(readTransferKey({ keyFile: path }), /shorter than 16 characters/, short);
  });
  // 16 characters counted as code points: 15 emoji are 30 UTF-16 units but still too short.
  await assertRefused(
    readTransferKey({ env: { [TRANSFER_KEY_ENV]: "🔑".repeat(15) } }),
    /shorter than 16 characters/,
  );
});

Deno.test("readTransferKey refuses a key file that is missing, a directory or too large", async () => {
  await assertRefused(
    readTransferKey({ keyFile: "/nonexistent/stagecoach/transfer.key" }),
    /key file \/nonexistent\/stagecoach\/transfer\.key does not exist/,
  );
  const dir = await Deno.makeTempDir();
  try {
    await assertRefused(readTransferKey({ keyFile: dir }), /is a directory/);
  } finally {
    await Deno.remove(dir);
  }
  const big = "k".repeat(MAX_KEY_FILE_BYTES + 1);
  await withKeyFile(big, async (path) => {
    await assertRefused(
      readTransferKey({ keyFile: path }),
      new RegExp(`larger than ${MAX_KEY_FILE_BYTES} bytes`),
      big,
    );
  });
});

Deno.test("readTransferKey refuses a key file that is not UTF-8 text", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/binary.key`;
  try {
    await Deno.writeFile(path, new Uint8Array([0xff, 0xfe, 0x00, 0x80, ...new Uint8Array(32)]));
    await assertRefused(readTransferKey({ keyFile: path }), /is not UTF-8 text/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
