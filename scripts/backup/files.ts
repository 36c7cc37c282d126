/**
 * Backup files on disk: writing a sealed file from a byte stream (SHA-256 and size of the
 * ciphertext measured as it goes), and reading one back chunk by chunk. Memory stays at a
 * chunk or two whatever the size.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createSealer, fromHex, openChunks, toHex } from "./crypto.ts";
import { BackupError, type ManifestFile } from "./manifest.ts";

/** Counts newlines (COPY text rows) in bytes. */
export function countNewlines(bytes: Uint8Array): number {
  let n = 0;
  let i = bytes.indexOf(10);
  while (i !== -1) {
    n++;
    i = bytes.indexOf(10, i + 1);
  }
  return n;
}

/** What {@link writeSealedFile} measured. */
export interface SealedFileResult {
  entry: Omit<ManifestFile, "kind">;
  /** SHA-256 (hex) of the plaintext. */
  plainSha256: string;
  /** Newlines in the plaintext (rows of COPY text). */
  lines: number;
  plainBytes: number;
}

/**
 * Seals a stream into `<dir>/<name>`.
 *
 * @param opts.onBytes called with the plaintext bytes after each piece (progress)
 */
export async function writeSealedFile(
  source: AsyncIterable<Uint8Array>,
  opts: {
    dir: string;
    name: string;
    key: CryptoKey;
    onPiece?: (piece: Uint8Array) => void;
  },
): Promise<SealedFileResult> {
  const noncePrefix = crypto.getRandomValues(new Uint8Array(8));
  const cipherHash = createHash("sha256");
  const plainHash = createHash("sha256");
  const file = await Deno.open(join(opts.dir, opts.name), {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  let size = 0;
  let lines = 0;
  let plainBytes = 0;
  try {
    const sealer = createSealer(opts.key, {
      file: opts.name,
      noncePrefix,
      write: async (record) => {
        cipherHash.update(record);
        size += record.length;
        let written = 0;
        while (written < record.length) written += await file.write(record.subarray(written));
      },
    });
    for await (const piece of source) {
      plainHash.update(piece);
      lines += countNewlines(piece);
      plainBytes += piece.length;
      await sealer.write(piece);
      opts.onPiece?.(piece);
    }
    const chunks = await sealer.close();
    return {
      entry: {
        name: opts.name,
        size,
        sha256: cipherHash.digest("hex"),
        chunks,
        nonce_prefix: toHex(noncePrefix),
      },
      plainSha256: plainHash.digest("hex"),
      lines,
      plainBytes,
    };
  } finally {
    file.close();
  }
}

/** Reads a file in large pieces (fewer, bigger reads than the default stream). */
async function* readPieces(path: string, onCipher: (piece: Uint8Array) => void) {
  const file = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(1 << 20);
    while (true) {
      const n = await file.read(buf);
      if (n === null) break;
      const piece = buf.slice(0, n);
      onCipher(piece);
      yield piece;
    }
  } finally {
    file.close();
  }
}

/**
 * Opens a sealed file of a backup, yielding authenticated plaintext; after the last chunk it
 * checks the file's size, SHA-256 and chunk count against the manifest.
 *
 * @throws {BackupError} `missing_file`, `tampered`, `truncated` (naming file and chunk) or
 * `checksum_mismatch`
 */
export async function* readSealedFile(
  dir: string,
  entry: ManifestFile,
  key: CryptoKey,
): AsyncGenerator<Uint8Array> {
  const path = join(dir, entry.name);
  const stat = await Deno.stat(path).catch(() => null);
  if (!stat?.isFile) {
    throw new BackupError("missing_file", `${entry.name}: missing from the backup`, {
      file: entry.name,
    });
  }
  const hash = createHash("sha256");
  let size = 0;
  let chunks = 0;
  const sizeNote = () =>
    stat.size !== entry.size
      ? ` (the file is ${stat.size} bytes, the manifest says ${entry.size})`
      : "";
  try {
    for await (
      const plain of openChunks(
        key,
        readPieces(path, (p) => {
          hash.update(p);
          size += p.length;
        }),
        { file: entry.name, noncePrefix: fromHex(entry.nonce_prefix) },
      )
    ) {
      chunks++;
      yield plain;
    }
  } catch (err) {
    if (err instanceof BackupError) {
      throw new BackupError(err.code, `${err.message}${sizeNote()}`, err.details);
    }
    throw err;
  }
  if (chunks !== entry.chunks) {
    throw new BackupError(
      "truncated",
      `${entry.name}: ${chunks} chunks, the manifest says ${entry.chunks}${sizeNote()}`,
      { file: entry.name },
    );
  }
  const sha = hash.digest("hex");
  if (size !== entry.size || sha !== entry.sha256) {
    throw new BackupError(
      "checksum_mismatch",
      `${entry.name}: SHA-256 ${sha} differs from the manifest's ${entry.sha256}${sizeNote()}`,
      { file: entry.name },
    );
  }
}
