/**
 * Standard Webhooks symmetric signatures (https://www.standardwebhooks.com, spec 1.0.0).
 *
 * - The secret is `whsec_` + base64 of 24–64 random bytes; the HMAC key is the decoded bytes.
 * - The signed content is `{webhook-id}.{webhook-timestamp}.{body}` (UTF-8), the timestamp
 *   in whole seconds since the epoch.
 * - `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256>`.
 *
 * Web Crypto only (HMAC via `crypto.subtle`), so it runs in Edge Functions, Deno and browsers.
 *
 * @module
 */

/** The three Standard Webhooks headers. */
export interface WebhookHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** What is signed: the message id, the attempt time and the exact body. */
export interface SignedContent {
  /** Same for every attempt of one message; must not contain `.`. */
  id: string;
  /** The attempt's time. */
  timestamp: Date;
  /** The request body, byte for byte as sent. */
  body: string;
}

/** A webhook that does not verify: missing headers, stale timestamp or no matching signature. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

const SECRET_PREFIX = "whsec_";
const encoder = new TextEncoder();

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/**
 * Decodes a signing secret (`whsec_<base64>`; the prefix may be left out).
 *
 * @param secret the secret as shown to the endpoint's owner
 * @returns the HMAC key bytes
 * @throws {Error} when it is not base64 or decodes to fewer than 24 or more than 64 bytes
 * @example
 * ```ts
 * parseSigningSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").length; // 24
 * ```
 */
export function parseSigningSecret(secret: string): Uint8Array<ArrayBuffer> {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64(encoded);
  } catch {
    throw new Error("Cannot read the signing secret: it is not whsec_ followed by base64");
  }
  if (bytes.length < 24 || bytes.length > 64) {
    throw new Error(
      `Cannot read the signing secret: it holds ${bytes.length} bytes, expected 24 to 64`,
    );
  }
  return bytes;
}

function hmacKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    parseSigningSecret(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [usage],
  );
}

function content(id: string, seconds: number, body: string): Uint8Array<ArrayBuffer> {
  if (id.includes(".")) throw new Error(`Cannot sign webhook ${id}: the id contains "."`);
  return encoder.encode(`${id}.${seconds}.${body}`);
}

/**
 * Signs a message: the `v1,<base64>` signature of `{id}.{timestamp}.{body}`.
 *
 * @param secret the endpoint's `whsec_` secret
 * @param msg the id, attempt time and body
 * @returns the signature, e.g. `v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`
 * @throws {Error} for an unreadable secret or an id containing `.`
 * @example
 * ```ts
 * await sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", {
 *   id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
 *   timestamp: new Date(1614265330_000),
 *   body: '{"test": 2432232314}',
 * }); // "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
 * ```
 */
export async function sign(secret: string, msg: SignedContent): Promise<string> {
  const seconds = Math.floor(msg.timestamp.getTime() / 1000);
  const key = await hmacKey(secret, "sign");
  const mac = await crypto.subtle.sign("HMAC", key, content(msg.id, seconds, msg.body));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

/**
 * The headers of a signed delivery.
 *
 * @param secret the endpoint's `whsec_` secret
 * @param msg the id, attempt time and body
 * @returns `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature`
 * @example
 * ```ts
 * const headers = await webhookHeaders(secret, { id: eventId, timestamp: new Date(), body });
 * await fetch(url, { method: "POST", headers, body });
 * ```
 */
export async function webhookHeaders(secret: string, msg: SignedContent): Promise<WebhookHeaders> {
  return {
    "webhook-id": msg.id,
    "webhook-timestamp": String(Math.floor(msg.timestamp.getTime() / 1000)),
    "webhook-signature": await sign(secret, msg),
  };
}

/**
 * Verifies a received webhook as a Standard Webhooks consumer does: the three headers are
 * present, the timestamp is within the tolerance of now, and one `v1` signature matches
 * (compared in constant time by `crypto.subtle.verify`).
 *
 * @param secret the endpoint's `whsec_` secret
 * @param opts.headers the request headers
 * @param opts.body the raw request body
 * @param opts.toleranceSeconds how far the timestamp may be from now, default 300
 * @param opts.now the receiver's clock, default `new Date()`
 * @throws {WebhookVerificationError} naming what is wrong
 * @example
 * ```ts
 * await verify(secret, { headers: request.headers, body: await request.text() });
 * ```
 */
export async function verify(
  secret: string,
  opts: { headers: Headers; body: string; toleranceSeconds?: number; now?: Date },
): Promise<void> {
  const { headers, body } = opts;
  const id = headers.get("webhook-id");
  const timestamp = headers.get("webhook-timestamp");
  const signatures = headers.get("webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError(
      "Cannot verify webhook: webhook-id, webhook-timestamp or webhook-signature is missing",
    );
  }
  const seconds = Number(timestamp);
  if (!/^\d+$/.test(timestamp) || !Number.isSafeInteger(seconds)) {
    throw new WebhookVerificationError("Cannot verify webhook: webhook-timestamp is not a number");
  }
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - seconds) > (opts.toleranceSeconds ?? 300)) {
    throw new WebhookVerificationError(
      "Cannot verify webhook: webhook-timestamp is outside the tolerance",
    );
  }
  if (id.includes(".")) throw new WebhookVerificationError('Cannot verify webhook: id has "."');
  const key = await hmacKey(secret, "verify");
  const signed = content(id, seconds, body);
  for (const entry of signatures.split(" ")) {
    const [version, encoded] = entry.split(",", 2);
    if (version !== "v1" || !encoded) continue;
    let mac: Uint8Array<ArrayBuffer>;
    try {
      mac = fromBase64(encoded);
    } catch {
      continue;
    }
    if (await crypto.subtle.verify("HMAC", key, mac, signed)) return;
  }
  throw new WebhookVerificationError("Cannot verify webhook: no v1 signature matches");
}
