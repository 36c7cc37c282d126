/**
 * One delivery, without the I/O: the HTTP request a claimed notification becomes (a Slack
 * message, a generic JSON body signed per Standard Webhooks, or GitHub's `repository_dispatch`),
 * and what a response or a network error means for it (delivered, retry, or never again).
 *
 * @module
 */
import { z } from "zod";
import { githubDispatch, githubHeaders } from "./github.ts";
import {
  type NotificationPayload,
  NotificationPayloadSchema,
  type PromotionNotification,
  webhookBody,
} from "./payload.ts";
import { webhookHeaders } from "./signature.ts";
import { slackMessage } from "./slack.ts";

/** A row returned by `ops.claim_notifications`: one attempt to make, with its credentials. */
export const ClaimedNotificationSchema = z.object({
  outbox_id: z.coerce.number().int(),
  event_id: z.uuid(),
  event_type: z.string(),
  payload: NotificationPayloadSchema,
  attempt: z.number().int().positive(),
  endpoint_id: z.uuid(),
  endpoint_name: z.string(),
  endpoint_kind: z.enum(["slack", "webhook", "github"]),
  url: z.string(),
  /** The endpoint's secret: a webhook's `whsec_` signing secret, a github endpoint's token. */
  signing_secret: z.string().nullable(),
});

/** A claimed notification. Holds the endpoint URL and secret (or token): never log it whole. */
export type ClaimedNotification = z.infer<typeof ClaimedNotificationSchema>;

/** A request ready for `fetch`. */
export interface DeliveryRequest {
  url: string;
  init: { method: "POST"; headers: Record<string, string>; body: string };
}

/** What one attempt came to. */
export type AttemptResult =
  | { ok: true; statusCode: number }
  | {
    ok: false;
    statusCode: number | null;
    /**
     * A short reason, never a response body: `http 500`, `http 302: redirect not followed`,
     * `refused: address 127.0.0.1 is loopback (127.0.0.0/8)`, `timeout: …`, `network error: …`
     * (URLs reduced to scheme and host).
     */
    error: string;
    /** The receiver asked never to be called again (410 Gone). */
    permanent: boolean;
    retryAfterMs?: number;
  };

/** The `User-Agent` of every delivery. */
export const USER_AGENT = "Stagecoach-Notifications/1";

const ERROR_CHARS = 300;

/**
 * Builds the HTTP request of a claimed notification: Slack endpoints get `{ text, blocks }`,
 * webhook endpoints the generic payload with `webhook-id` (the event id),
 * `webhook-timestamp` (the attempt's time) and `webhook-signature`, github endpoints a
 * `repository_dispatch` (`{ event_type, client_payload }`) with their token as bearer.
 *
 * @param n the claimed notification
 * @param at the attempt's time (signed as `webhook-timestamp`)
 * @returns the URL and `fetch` init
 * @throws {Error} when a webhook endpoint has no signing secret, a github endpoint no token,
 * or a github endpoint is handed another event than `promotion.approved`
 * @example
 * ```ts
 * const req = await buildDeliveryRequest(claimed, new Date());
 * await fetch(req.url, req.init);
 * ```
 */
export async function buildDeliveryRequest(
  n: ClaimedNotification,
  at: Date,
): Promise<DeliveryRequest> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
  };
  if (n.endpoint_kind === "slack") {
    const body = JSON.stringify(slackMessage(n.payload as NotificationPayload));
    return { url: n.url, init: { method: "POST", headers, body } };
  }
  if (n.endpoint_kind === "github") {
    if (!n.signing_secret) {
      throw new Error(`Cannot dispatch notification to ${n.endpoint_name}: it has no token`);
    }
    const body = JSON.stringify(githubDispatch(n.payload as PromotionNotification));
    const github = githubHeaders(n.signing_secret);
    return { url: n.url, init: { method: "POST", headers: { ...headers, ...github }, body } };
  }
  if (!n.signing_secret) {
    throw new Error(`Cannot sign notification for ${n.endpoint_name}: it has no signing secret`);
  }
  const body = webhookBody(n.payload);
  const signed = await webhookHeaders(n.signing_secret, { id: n.event_id, timestamp: at, body });
  return { url: n.url, init: { method: "POST", headers: { ...headers, ...signed }, body } };
}

/**
 * Replaces every URL in a text by its scheme and host, so that error messages (which often
 * quote the URL, and Slack URLs are credentials) can be stored and shown.
 *
 * @example
 * ```ts
 * redactUrls("error sending request for url (https://hooks.slack.com/services/T/B/x)");
 * // "error sending request for url (https://hooks.slack.com/…)"
 * ```
 */
export function redactUrls(text: string): string {
  return text.replace(
    /\b(https?:\/\/)(?:[^\s@/?#]*@)?([^\s/?#)]+)[^\s)]*/gi,
    (_m, scheme: string, host: string) => `${scheme}${host}/…`,
  );
}

function short(text: string): string {
  const clean = redactUrls(text.replace(/\s+/g, " ").trim());
  return clean.length > ERROR_CHARS ? `${clean.slice(0, ERROR_CHARS)}…` : clean;
}

/**
 * Reads a `Retry-After` header (seconds or an HTTP date).
 *
 * @param value the header value
 * @param now the current time
 * @returns milliseconds to wait, or undefined when absent or unreadable
 */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/**
 * Classifies a receiver's response as Standard Webhooks says: 2xx is delivered; anything
 * else failed (a redirect too: it is never followed); 410 Gone means never again;
 * `Retry-After` is kept. The error is the status alone: a response body is never read or
 * stored, because whoever runs the receiver (or whatever answers at its address) chooses it.
 *
 * @param status the HTTP status
 * @param headers the response headers
 * @param now the current time (for a `Retry-After` date)
 * @returns the attempt's result
 * @example
 * ```ts
 * classifyResponse(500, new Headers(), new Date());
 * // { ok: false, statusCode: 500, error: "http 500", permanent: false }
 * ```
 */
export function classifyResponse(status: number, headers: Headers, now: Date): AttemptResult {
  if (status >= 200 && status < 300) return { ok: true, statusCode: status };
  const retryAfterMs = parseRetryAfter(headers.get("retry-after"), now);
  return {
    ok: false,
    statusCode: status,
    error: status >= 300 && status < 400
      ? `http ${status}: redirect not followed`
      : `http ${status}`,
    permanent: status === 410,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

/**
 * Classifies an error thrown by `fetch` (timeout, refused connection, DNS, TLS).
 *
 * @param err what was thrown
 * @param timedOut whether the attempt's timeout fired
 * @param timeoutMs the timeout, for the message
 * @returns a failed, retryable result without URLs
 */
export function classifyError(err: unknown, timedOut: boolean, timeoutMs: number): AttemptResult {
  const error = timedOut
    ? `timeout: no response within ${timeoutMs} ms`
    : short(`network error: ${err instanceof Error ? err.message : String(err)}`);
  return { ok: false, statusCode: null, error, permanent: false };
}

/**
 * The result of an attempt the outbound rules refused before sending anything
 * (`OutboundRefusedError` from `_shared/outbound/fetch.ts`).
 *
 * @param refusal the refusal's reason and whether asking again could help
 * @returns a failed result `refused: <reason>`; permanent when the URL itself is refused
 * @example
 * ```ts
 * classifyRefusal({ reason: "address 127.0.0.1 is loopback (127.0.0.0/8)", permanent: true });
 * // { ok: false, statusCode: null, error: "refused: address 127.0.0.1 is loopback (127.0.0.0/8)", permanent: true }
 * ```
 */
export function classifyRefusal(refusal: { reason: string; permanent: boolean }): AttemptResult {
  return {
    ok: false,
    statusCode: null,
    error: short(`refused: ${refusal.reason}`),
    permanent: refusal.permanent,
  };
}
