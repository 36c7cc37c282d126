/**
 * Encryption of backup files: keys derived from the operator's key, and chunked AES-256-GCM
 * that streams (memory stays at one chunk whatever the file's size). No I/O: bytes in, bytes
 * out; the caller reads and writes the files.
 *
 * - The operator's key (NFC-normalised UTF-8, at least {@link MIN_BACKUP_KEY_LENGTH}
 *   characters) goes through PBKDF2-HMAC-SHA256 with the backup's random 16-byte salt to 32
 *   bytes, which HKDF-SHA256 expands into the file key (AES-256-GCM) and the manifest key
 *   (HMAC-SHA256), as config bundles do (`_shared/config/bundle.ts`).
 * - The key's fingerprint is PBKDF2 of the key under a fixed label salt (same rounds), first 8
 *   bytes in hex: the same for every backup made with that key, as costly to guess from as the
 *   file key, and it tells a wrong key apart from tampering.
 * - A file is a sequence of records `[u32 big-endian length][ciphertext + 16-byte tag]`, each
 *   sealing at most {@link CHUNK_SIZE} bytes. The nonce is the file's random 8-byte prefix and
 *   the chunk's index (u32 big-endian); the additional data names the format, the file and
 *   whether the chunk is the last. So a changed byte, a chunk moved, dropped or moved to another
 *   file, and a file cut short are all detected, each named by file and chunk.
 *
 * @module
 */
import { BackupError } from "./manifest.ts";

/** Plaintext bytes per chunk. */
export const CHUNK_SIZE = 1 << 20;

/** PBKDF2 rounds when sealing (OWASP 2023 for PBKDF2-HMAC-SHA256), unless a test asks fewer. */
export const DEFAULT_KDF_ITERATIONS = 600_000;
/** Fewest rounds a backup may be made or opened with. */
export const MIN_KDF_ITERATIONS = 100_000;
/** Most rounds a manifest may ask for: a hostile manifest cannot make verify spin. */
export const MAX_KDF_ITERATIONS = 2_000_000;
/** Shortest operator key accepted, in characters. */
export const MIN_BACKUP_KEY_LENGTH = 16;

const LABEL = "stagecoach.backup.v1";
const TAG_BYTES = 16;
const encoder = new TextEncoder();

/** The keys of one backup. */
export interface BackupKeys {
  /** AES-256-GCM key of the files. */
  file: CryptoKey;
  /** HMAC-SHA256 key of the manifest. */
  mac: CryptoKey;
}

/** Hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes of hex (even length, 0-9a-f). @throws {BackupError} `malformed` otherwise */
export function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  if (!/^([0-9a-f]{2})*$/.test(hex)) throw new BackupError("malformed", `Not hex: ${hex}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

async function pbkdf2(key: string, salt: Uint8Array<ArrayBuffer>, iterations: number) {
  if (iterations < MIN_KDF_ITERATIONS || iterations > MAX_KDF_ITERATIONS) {
    throw new BackupError(
      "malformed",
      `Cannot derive the backup key: ${iterations} PBKDF2 rounds is outside ${MIN_KDF_ITERATIONS}..${MAX_KDF_ITERATIONS}`,
    );
  }
  const password = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  return await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    password,
    256,
  );
}

/**
 * Derives a backup's file and manifest keys from the operator's key.
 *
 * @example
 * ```ts
 * const keys = await deriveBackupKeys("a long random operator key", crypto.getRandomValues(new Uint8Array(16)), 600_000);
 * ```
 */
export async function deriveBackupKeys(
  key: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<BackupKeys> {
  const master = await pbkdf2(key, salt, iterations);
  const hkdf = await crypto.subtle.importKey("raw", master, "HKDF", false, ["deriveKey"]);
  const info = (purpose: string) => encoder.encode(`${LABEL} ${purpose}`);
  const hkdfParams = (purpose: string) => ({
    name: "HKDF",
    hash: "SHA-256",
    salt: new Uint8Array(0),
    info: info(purpose),
  });
  const [file, mac] = await Promise.all([
    crypto.subtle.deriveKey(hkdfParams("file"), hkdf, { name: "AES-GCM", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ]),
    crypto.subtle.deriveKey(
      hkdfParams("manifest mac"),
      hkdf,
      { name: "HMAC", hash: "SHA-256", length: 256 },
      false,
      ["sign", "verify"],
    ),
  ]);
  return { file, mac };
}

/**
 * The fingerprint of an operator key: `pbkdf2:` and 16 hex digits, the same for every backup
 * made with the key (and the same rounds).
 */
export async function keyFingerprint(key: string, iterations: number): Promise<string> {
  const bits = await pbkdf2(key, encoder.encode(`${LABEL} key fingerprint`), iterations);
  return `pbkdf2:${toHex(new Uint8Array(bits).slice(0, 8))}`;
}

/**
 * Chooses the operator's key: `--key-file` content (trailing newline trimmed) or the
 * `STAGECOACH_BACKUP_KEY` value; the file wins.
 *
 * @throws {Error} when neither is given or the key is too short (the key is never in the message)
 */
export function chooseBackupKey(opts: { envValue?: string; fileContent?: string }): string {
  const key = opts.fileContent !== undefined
    ? opts.fileContent.replace(/\r?\n$/, "")
    : opts.envValue;
  if (!key) {
    throw new Error("Missing backup key: set STAGECOACH_BACKUP_KEY or pass --key-file <path>");
  }
  if ([...key].length < MIN_BACKUP_KEY_LENGTH) {
    throw new Error(
      `Invalid backup key: expected at least ${MIN_BACKUP_KEY_LENGTH} characters (a long random string)`,
    );
  }
  return key;
}

function nonce(prefix: Uint8Array, index: number): Uint8Array<ArrayBuffer> {
  const iv = new Uint8Array(12);
  iv.set(prefix, 0);
  new DataView(iv.buffer).setUint32(8, index);
  return iv;
}

function aad(file: string, index: number, final: boolean): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${LABEL}\u0000${file}\u0000${index}\u0000${final ? "final" : "more"}`);
}

/** The AES-GCM parameters of one chunk. */
function chunkParams(
  opts: { file: string; noncePrefix: Uint8Array },
  index: number,
  final: boolean,
) {
  return {
    name: "AES-GCM",
    iv: nonce(opts.noncePrefix, index),
    additionalData: aad(opts.file, index, final),
  };
}

/** Writes sealed records; {@link createSealer} calls it in order. */
export type RecordWriter = (record: Uint8Array) => Promise<void>;

/** A file being sealed. */
export interface Sealer {
  /** Adds plaintext; full chunks are sealed and written as they fill. */
  write(bytes: Uint8Array): Promise<void>;
  /** Seals the last (possibly empty) chunk; returns the chunk count. */
  close(): Promise<number>;
}

/**
 * Seals a file's plaintext into records, one chunk at a time.
 *
 * @param key the backup's file key
 * @param opts.file the file's name (bound into every chunk)
 * @param opts.noncePrefix 8 random bytes, new for every file
 * @param opts.write where records go
 */
export function createSealer(
  key: CryptoKey,
  opts: { file: string; noncePrefix: Uint8Array; write: RecordWriter; chunkSize?: number },
): Sealer {
  const size = opts.chunkSize ?? CHUNK_SIZE;
  let buffer = new Uint8Array(size);
  let filled = 0;
  let index = 0;

  async function seal(plain: Uint8Array<ArrayBuffer>, final: boolean): Promise<void> {
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(chunkParams(opts, index, final), key, plain),
    );
    const record = new Uint8Array(4 + sealed.length);
    new DataView(record.buffer).setUint32(0, sealed.length);
    record.set(sealed, 4);
    index++;
    await opts.write(record);
  }

  return {
    async write(bytes) {
      let pos = 0;
      while (pos < bytes.length) {
        // A full chunk is sealed only once more bytes arrive, so the last chunk is never empty
        // unless the whole file is.
        if (filled === size) {
          await seal(buffer, false);
          buffer = new Uint8Array(size);
          filled = 0;
        }
        const n = Math.min(size - filled, bytes.length - pos);
        buffer.set(bytes.subarray(pos, pos + n), filled);
        filled += n;
        pos += n;
      }
    },
    async close() {
      await seal(buffer.slice(0, filled), true);
      return index;
    },
  };
}

/**
 * Opens a sealed file as it streams, yielding each chunk's plaintext once authenticated.
 *
 * @throws {BackupError} `truncated` (a record cut short, or no final chunk) or `tampered`
 * (a chunk that fails authentication, or bytes after the final chunk), naming file and chunk
 */
export async function* openChunks(
  key: CryptoKey,
  source: AsyncIterable<Uint8Array>,
  opts: { file: string; noncePrefix: Uint8Array },
): AsyncGenerator<Uint8Array> {
  let index = 0;
  let ended = false;
  const maxRecord = CHUNK_SIZE + TAG_BYTES;

  async function open(sealed: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
    for (const final of [false, true]) {
      try {
        const plain = new Uint8Array(
          await crypto.subtle.decrypt(chunkParams(opts, index, final), key, sealed),
        );
        ended = final;
        return plain;
      } catch {
        // try the other flag; both failing is tampering
      }
    }
    throw new BackupError(
      "tampered",
      `${opts.file}: chunk ${index} fails authentication (changed, reordered or from another file)`,
      { file: opts.file, chunk: index },
    );
  }

  const queue = new ByteQueue();
  const cutShort = () =>
    new BackupError("truncated", `${opts.file}: chunk ${index} is cut short`, {
      file: opts.file,
      chunk: index,
    });
  for await (const piece of source) {
    queue.push(piece);
    while (queue.length >= 4) {
      if (ended) {
        throw new BackupError(
          "tampered",
          `${opts.file}: bytes after the final chunk ${index - 1}`,
          {
            file: opts.file,
            chunk: index,
          },
        );
      }
      const head = queue.peek(4);
      const length = new DataView(head.buffer, head.byteOffset).getUint32(0);
      if (length < TAG_BYTES || length > maxRecord) {
        throw new BackupError(
          "tampered",
          `${opts.file}: chunk ${index} has an impossible length ${length}`,
          { file: opts.file, chunk: index },
        );
      }
      if (queue.length - 4 < length) break;
      queue.take(4);
      yield await open(queue.take(length));
      index++;
    }
  }
  if (queue.length > 0) throw cutShort();
  if (!ended) {
    throw new BackupError(
      "truncated",
      index === 0
        ? `${opts.file}: has no chunks (the file is empty)`
        : `${opts.file}: ends after chunk ${index - 1} without its final chunk (chunks missing)`,
      { file: opts.file, chunk: index },
    );
  }
}

/** Bytes received in pieces, taken out in exact lengths without re-copying what stays. */
class ByteQueue {
  #pieces: Uint8Array[] = [];
  length = 0;

  push(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.#pieces.push(piece);
    this.length += piece.length;
  }

  peek(n: number): Uint8Array<ArrayBuffer> {
    return this.#copy(n, false);
  }

  take(n: number): Uint8Array<ArrayBuffer> {
    return this.#copy(n, true);
  }

  #copy(n: number, consume: boolean): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    let filled = 0;
    let i = 0;
    while (filled < n) {
      const piece = this.#pieces[i];
      const k = Math.min(piece.length, n - filled);
      out.set(piece.subarray(0, k), filled);
      filled += k;
      if (consume) {
        if (k === piece.length) this.#pieces.shift();
        else this.#pieces[0] = piece.subarray(k);
      } else i++;
    }
    if (consume) this.length -= n;
    return out;
  }
}

/** HMAC-SHA256 of text under the manifest key, hex. */
export async function macHex(key: CryptoKey, text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(text))));
}

/** Checks an HMAC in constant time (WebCrypto's verify). */
export async function macValid(key: CryptoKey, text: string, hex: string): Promise<boolean> {
  if (!/^[0-9a-f]{64}$/.test(hex)) return false;
  return await crypto.subtle.verify("HMAC", key, fromHex(hex), encoder.encode(text));
}
