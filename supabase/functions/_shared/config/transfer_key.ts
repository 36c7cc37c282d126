/**
 * Reads the operator's transfer key, which seals and opens config bundles (`./bundle.ts`).
 * It comes from `STAGECOACH_TRANSFER_KEY` or from a key file and is never stored in a bundle,
 * printed, or put in an error message.
 *
 * @module
 */
import { MIN_TRANSFER_KEY_LENGTH } from "./bundle.ts";

/** The environment variable holding the transfer key. */
export const TRANSFER_KEY_ENV = "STAGECOACH_TRANSFER_KEY";

/** Largest key file read, in bytes: a bigger file is surely the wrong file. */
export const MAX_KEY_FILE_BYTES = 4096;

function refuse(reason: string): Error {
  return new Error(`Cannot read transfer key: ${reason}`);
}

async function readKeyFile(path: string): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw refuse(`key file ${path} does not exist`);
    if (err instanceof Deno.errors.PermissionDenied) {
      throw refuse(`no permission to read key file ${path}`);
    }
    throw refuse(`cannot open key file ${path} (${(err as Error).name})`);
  }
  // Read by chunks up to a cap rather than stat + readFile, so a pipe (`<(pass show …)`)
  // works and a device like /dev/zero cannot make us read forever.
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    const buffer = new Uint8Array(1024);
    for (;;) {
      let n: number | null;
      try {
        n = await file.read(buffer);
      } catch (err) {
        if (err instanceof Deno.errors.IsADirectory) {
          throw refuse(`key file ${path} is a directory`);
        }
        throw refuse(`cannot read key file ${path} (${(err as Error).name})`);
      }
      if (n === null) break;
      size += n;
      if (size > MAX_KEY_FILE_BYTES) {
        throw refuse(`key file ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes`);
      }
      chunks.push(buffer.slice(0, n));
    }
  } finally {
    file.close();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw refuse(`key file ${path} is not UTF-8 text`);
  }
}

/**
 * Reads the transfer key from a key file (when given; an explicit file wins over the
 * environment) or else from `STAGECOACH_TRANSFER_KEY`. Trailing line breaks (and a leading
 * byte-order mark) are removed, since editors and `echo` add them; other whitespace is kept
 * as part of the key.
 *
 * @param opts `env` to read instead of the process environment (tests); `keyFile`, a path
 * @returns the key, at least {@link MIN_TRANSFER_KEY_LENGTH} characters
 * @throws {Error} "Cannot read transfer key: …" when neither source is set, the file cannot be
 *   read, or the key is empty or shorter than 16 characters (never quoting the key)
 * @example
 * ```ts
 * const key = await readTransferKey({ keyFile: "/run/secrets/transfer_key" });
 * ```
 */
export async function readTransferKey(
  opts: { env?: Record<string, string | undefined>; keyFile?: string } = {},
): Promise<string> {
  let raw: string | undefined;
  let source: string;
  if (opts.keyFile !== undefined) {
    raw = await readKeyFile(opts.keyFile);
    source = `key file ${opts.keyFile}`;
  } else {
    raw = opts.env ? opts.env[TRANSFER_KEY_ENV] : Deno.env.get(TRANSFER_KEY_ENV);
    source = TRANSFER_KEY_ENV;
    if (raw === undefined) {
      throw refuse(`set ${TRANSFER_KEY_ENV} or give a key file`);
    }
  }
  const key = raw.replace(/^\uFEFF/, "").replace(/[\r\n]+$/, "");
  if (key.trim() === "") throw refuse(`${source} is empty`);
  if ([...key].length < MIN_TRANSFER_KEY_LENGTH) {
    throw refuse(
      `the key in ${source} is shorter than ${MIN_TRANSFER_KEY_LENGTH} characters; use a long random one`,
    );
  }
  return key;
}
