/**
 * Delivers one request of the pg_net stand-in's queue over HTTP and describes the outcome as
 * a row of `net._http_response`, the way pg_net's background worker records it.
 *
 * @module
 */

/** A row claimed from `net.http_request_queue`. */
export interface QueuedRequest {
  id: bigint | number | string;
  method: string;
  url: string;
  headers: Record<string, unknown> | null;
  body: Uint8Array | null;
  timeout_milliseconds: number;
}

/** A row for `net._http_response`. */
export interface ResponseRow {
  id: bigint | number | string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
}

/** Options of {@link deliverRequest}. */
export interface DeliverOptions {
  /** Sends the request; defaults to the global `fetch`. */
  fetch?: (request: Request) => Promise<Response>;
  /** Aborts the delivery early (the worker is stopping); recorded as an error. */
  signal?: AbortSignal;
}

/**
 * Sends a queued request and returns the response row; never throws.
 *
 * The timeout covers the whole exchange, body included, as pg_net's does. Redirects are not
 * followed. The body is stored as UTF-8 text (NUL characters, which `text` cannot hold, are
 * dropped).
 *
 * @param request the claimed queue row
 * @param opts how to send it
 * @returns what to insert into `net._http_response`
 * @example
 * ```ts
 * const row = await deliverRequest({
 *   id: 1, method: "POST", url: "http://127.0.0.1:54321/functions/v1/ops-worker",
 *   headers: { "Content-Type": "application/json" }, body: new TextEncoder().encode("{}"),
 *   timeout_milliseconds: 5000,
 * });
 * row.status_code; // 200
 * ```
 */
export async function deliverRequest(
  request: QueuedRequest,
  opts: DeliverOptions = {},
): Promise<ResponseRow> {
  const send = opts.fetch ?? ((r: Request) => fetch(r));
  const timeoutMs = request.timeout_milliseconds;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const failed = (error_msg: string, timed_out = false): ResponseRow => ({
    id: request.id,
    status_code: null,
    content_type: null,
    headers: null,
    content: null,
    timed_out,
    error_msg,
  });
  let outgoing: Request;
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (value !== null && value !== undefined) headers.set(name, String(value));
    }
    const method = request.method.toUpperCase();
    const withBody = request.body !== null && method !== "GET" && method !== "HEAD";
    outgoing = new Request(request.url, {
      method,
      headers,
      // A copy: postgres.js hands out a Buffer view, fetch wants a plain ArrayBuffer-backed one.
      body: withBody && request.body ? new Uint8Array(request.body) : undefined,
      redirect: "manual",
      signal,
    });
  } catch (err) {
    return failed(`Cannot build request: ${(err as Error).message}`);
  }
  try {
    const res = await send(outgoing);
    const bytes = new Uint8Array(await res.arrayBuffer());
    return {
      id: request.id,
      status_code: res.status,
      content_type: res.headers.get("content-type"),
      headers: Object.fromEntries(res.headers),
      content: new TextDecoder().decode(bytes).replaceAll("\u0000", ""),
      timed_out: false,
      error_msg: null,
    };
  } catch (err) {
    if (timeout.aborted) return failed(`Timeout of ${timeoutMs} ms reached`, true);
    if (opts.signal?.aborted) return failed("Cannot deliver request: the worker is stopping");
    return failed(describeFetchError(err));
  }
}

function describeFetchError(err: unknown): string {
  const error = err as Error;
  const cause = (error as { cause?: unknown }).cause;
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return `${error.message}${detail}`;
}
