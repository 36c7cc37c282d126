/**
 * The one way to send a request to a URL a user supplied: check the URL (`policy.ts`),
 * resolve its host name and check every address it resolves to, then `fetch` with redirects
 * off. Anything refused is never sent; the error says why in a few words.
 *
 * Resolution uses `Deno.resolveDns` (A and AAAA), which Deno and Supabase's Edge Runtime both
 * provide (on the Edge Runtime even `node:dns` `lookup` is built on it). It reads
 * `/etc/hosts` as well as DNS. It fails closed: a name that does not resolve, or whose lookup
 * fails, is refused.
 *
 * What remains: `fetch` resolves the name again when it connects, so a DNS server that
 * answers a public address to the check and an internal one a moment later (DNS rebinding)
 * could still win that race. Pinning the connection to the checked address needs a custom
 * connector (`Deno.createHttpClient`'s `tcp` proxy transport, which the Edge Runtime's Deno
 * does not have yet) or an egress proxy; until then the check narrows the window to
 * milliseconds and refuses every name that plainly points inside.
 *
 * @module
 */
import {
  checkOutboundUrl,
  checkResolvedAddresses,
  type OutboundPolicy,
  STRICT_POLICY,
} from "./policy.ts";

/** Resolves a host name to its A and AAAA addresses. */
export type Resolver = (host: string, opts: { signal?: AbortSignal }) => Promise<string[]>;

/** Sends a request (the global `fetch` by default). */
export type Send = (url: string, init: RequestInit) => Promise<Response>;

/**
 * A request refused by the outbound rules before anything was sent.
 *
 * @example
 * ```ts
 * try { await outboundFetch(url, init); } catch (err) {
 *   if (err instanceof OutboundRefusedError) record(`refused: ${err.reason}`);
 * }
 * ```
 */
export class OutboundRefusedError extends Error {
  /** Why, in a few words without path or query, e.g. `address 10.0.0.7 is private (10.0.0.0/8)`. */
  readonly reason: string;
  /**
   * True when the URL itself is refused (asking again cannot help); false when the refusal
   * came from what the name resolved to, which may change.
   */
  readonly permanent: boolean;
  /**
   * @param reason why, as the rules said it
   * @param opts.permanent see {@link OutboundRefusedError.permanent}
   * @param opts.action what could not be done, for the message; default `send the request`
   */
  constructor(reason: string, opts: { permanent: boolean; action?: string }) {
    super(`Cannot ${opts.action ?? "send the request"}: ${reason}`);
    this.name = "OutboundRefusedError";
    this.reason = reason;
    this.permanent = opts.permanent;
  }
}

/** Options of {@link outboundFetch}. */
export interface OutboundFetchOptions {
  /** The allow-list; default {@link STRICT_POLICY} (https to public addresses only). */
  policy?: OutboundPolicy;
  /** Resolves host names; default {@link resolveHost}. */
  resolve?: Resolver;
  /** Sends the request; default the global `fetch`. */
  fetch?: Send;
}

function shortMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const clean = text.replace(/\s+/g, " ").trim();
  return clean.length > 120 ? `${clean.slice(0, 120)}…` : clean;
}

/**
 * Resolves a host name's A and AAAA records with `Deno.resolveDns`.
 *
 * @param host a host name (not an address literal)
 * @param opts.signal aborts the lookups (the abort reason is thrown as it is)
 * @returns every address of both families; empty when the name has none
 * @throws {OutboundRefusedError} (not permanent) when a lookup fails for another reason than
 * "no such records", so an unanswered family never goes unchecked
 * @example
 * ```ts
 * await resolveHost("localhost", {}); // ["127.0.0.1", "::1"] (from /etc/hosts)
 * ```
 */
export async function resolveHost(host: string, opts: { signal?: AbortSignal }): Promise<string[]> {
  const results = await Promise.allSettled(
    (["A", "AAAA"] as const).map((type) => Deno.resolveDns(host, type, { signal: opts.signal })),
  );
  const addresses: string[] = [];
  for (const r of results) {
    if (r.status === "fulfilled") addresses.push(...r.value);
    else if (opts.signal?.aborted) throw opts.signal.reason;
    else if (!(r.reason instanceof Deno.errors.NotFound)) {
      throw new OutboundRefusedError(
        `cannot resolve host ${host}: ${shortMessage(r.reason)}`,
        { permanent: false },
      );
    }
  }
  return addresses;
}

/**
 * Sends a request to a user-supplied URL under the outbound rules: the URL is checked, its
 * host name resolved and every address checked, then the request goes to the normalized URL
 * with `redirect: "manual"` (a 3xx comes back as it is; it is never followed).
 *
 * @param url the URL as stored
 * @param init the request (its `signal` also bounds the DNS lookups; `redirect` is overridden)
 * @param opts allow-list, resolver and fetch (see {@link OutboundFetchOptions})
 * @returns the response, unread
 * @throws {OutboundRefusedError} when the rules refuse the URL or an address it resolves to;
 * nothing was sent
 * @throws {Error} what `fetch` throws (network errors, the signal's abort reason)
 * @example
 * ```ts
 * const res = await outboundFetch(endpoint.url, { method: "POST", body }, { policy });
 * ```
 */
export async function outboundFetch(
  url: string,
  init: RequestInit,
  opts: OutboundFetchOptions = {},
): Promise<Response> {
  const policy = opts.policy ?? STRICT_POLICY;
  const checked = checkOutboundUrl(url, policy);
  if (!checked.ok) throw new OutboundRefusedError(checked.reason, { permanent: true });
  const target = checked.value;
  if (target.address === undefined && !target.allowListed) {
    const resolve = opts.resolve ?? resolveHost;
    const addresses = await resolve(target.host, { signal: init.signal ?? undefined });
    const verdict = checkResolvedAddresses(target, addresses, policy);
    if (!verdict.ok) throw new OutboundRefusedError(verdict.reason, { permanent: false });
  }
  const send: Send = opts.fetch ?? ((u, i) => fetch(u, i));
  return await send(target.url.href, { ...init, redirect: "manual" });
}
