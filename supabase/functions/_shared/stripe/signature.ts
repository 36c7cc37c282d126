/**
 * Stripe webhook signatures, checked synchronously — pure: a body, a header and a secret in, a
 * verdict out.
 *
 * Stripe signs `<t>.<raw body>` with HMAC-SHA256 under the endpoint's secret and sends
 * `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (several `v1` while a secret rolls;
 * other schemes such as `v0` are ignored). The SDK's `constructEventAsync` checks the same thing
 * through `crypto.subtle`, whose every call is an asynchronous operation: with one sender that
 * hop to another thread and back was a measurable share of a delivery. `node:crypto`'s HMAC
 * answers in the same turn.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

/** Why a signature was refused. */
export type SignatureProblem = "missing" | "invalid" | "stale";

/** What {@link checkSignature} decides. */
export type SignatureVerdict = { ok: true } | { ok: false; problem: SignatureProblem };

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** The timestamp and the `v1` signatures of a `Stripe-Signature` header; null when unreadable. */
export function parseSignatureHeader(
  header: string,
): { timestamp: number; signatures: string[] } | null {
  let timestamp = NaN;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") timestamp = /^\d+$/.test(value) ? Number(value) : NaN;
    else if (key === "v1") signatures.push(value.toLowerCase());
  }
  if (!Number.isSafeInteger(timestamp) || signatures.length === 0) return null;
  return { timestamp, signatures };
}

/**
 * Checks a webhook body against its `Stripe-Signature` header: a matching `v1` signature first
 * (`invalid` otherwise, including an unreadable header), then its age (`stale` when the
 * timestamp is more than `toleranceSeconds` old; 0 or less turns the age check off).
 *
 * @param body the raw body, exactly as received
 * @param opts.header the header; empty or undefined gives `missing`
 * @param opts.secret the endpoint's signing secret (`whsec_…`)
 * @param opts.toleranceSeconds the largest accepted age
 * @param opts.now the time to compare with, in unix seconds (default: now)
 * @example
 * ```ts
 * checkSignature(body, { header, secret: "whsec_…", toleranceSeconds: 300 }); // { ok: true }
 * ```
 */
export function checkSignature(
  body: string,
  opts: { header: string | undefined; secret: string; toleranceSeconds: number; now?: number },
): SignatureVerdict {
  if (!opts.header) return { ok: false, problem: "missing" };
  const parsed = parseSignatureHeader(opts.header);
  if (!parsed || !opts.secret) return { ok: false, problem: "invalid" };
  const expected = createHmac("sha256", opts.secret)
    .update(`${parsed.timestamp}.`)
    .update(body)
    .digest();
  const matches = parsed.signatures.some((hex) =>
    HEX_SHA256.test(hex) && timingSafeEqual(expected, Buffer.from(hex, "hex"))
  );
  if (!matches) return { ok: false, problem: "invalid" };
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (opts.toleranceSeconds > 0 && now - parsed.timestamp > opts.toleranceSeconds) {
    return { ok: false, problem: "stale" };
  }
  return { ok: true };
}
