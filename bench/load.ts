/**
 * A small closed-loop HTTP load generator: `concurrency` senders each send their next request
 * as soon as the previous one answered, until `requests` have been sent. Latencies are kept
 * for percentiles.
 *
 * @module
 */
import { createUpstreamClient } from "../scripts/local/gateway_upstream.ts";

/** Figures of one load run. */
export interface LoadResult {
  requests: number;
  concurrency: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Every call's latency, sorted (what {@link mergeLoadResults} needs). */
  latenciesMs?: number[];
}

/** The `q`-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/**
 * Closed-loop load over any call: `concurrency` senders each make their next call as soon as
 * the previous one settled, until `requests` calls were made.
 *
 * @param call makes call number i; resolves true when it succeeded (false or a rejection
 * counts as an error)
 * @returns throughput and latency figures
 * @example
 * ```ts
 * const r = await runCalls((i) => handler(events[i]).then(() => true), { requests: 1000, concurrency: 10 });
 * ```
 */
export async function runCalls(
  call: (i: number) => Promise<boolean>,
  opts: { requests: number; concurrency: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  async function sender(): Promise<void> {
    while (next < opts.requests) {
      const i = next++;
      const started = performance.now();
      const ok = await call(i).catch(() => false);
      latencies.push(performance.now() - started);
      if (!ok) errors++;
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, () => sender()));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: opts.requests,
    concurrency: opts.concurrency,
    seconds,
    perSecond: opts.requests / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    errors,
    latenciesMs: latencies,
  };
}

/**
 * Several runs at the same concurrency as one: requests, seconds and errors added up,
 * throughput over the summed time, p50 and p99 over every latency. Benchmarks that alternate
 * two sides in slices use it, so both sides meet the same swings of a shared machine.
 *
 * @throws {Error} when a part lacks its latencies
 */
export function mergeLoadResults(parts: LoadResult[]): LoadResult {
  const latencies = parts.flatMap((p) => {
    if (!p.latenciesMs) throw new Error("Cannot merge load results: a part has no latencies");
    return p.latenciesMs;
  }).sort((a, b) => a - b);
  const requests = parts.reduce((n, p) => n + p.requests, 0);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  return {
    requests,
    concurrency: parts[0]?.concurrency ?? 0,
    seconds,
    perSecond: requests / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    errors: parts.reduce((n, p) => n + p.errors, 0),
    latenciesMs: latencies,
  };
}

/** One request of a load run (a plain description: building a `Request` costs more). */
export interface LoadRequest {
  /** An `http://` URL. */
  url: string;
  /** Default `GET`. */
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Sends `requests` requests made by `makeRequest` with `concurrency` senders, over kept-alive
 * connections with the gateway's own HTTP/1.1 client (`scripts/local/gateway_upstream.ts`)
 * rather than `fetch`: the load generator shares the machine with what it measures, and
 * `fetch` spent about three times the CPU per request.
 *
 * @param makeRequest describes request number i
 * @param opts.expect the status that counts as success; default any 2xx
 * @returns throughput and latency figures; any other answer counts as an error
 */
export async function runLoad(
  makeRequest: (i: number) => LoadRequest,
  opts: { requests: number; concurrency: number; expect?: number },
): Promise<LoadResult> {
  const client = createUpstreamClient();
  const encoder = new TextEncoder();
  try {
    return await runCalls(async (i) => {
      const request = makeRequest(i);
      const url = new URL(request.url);
      const res = await client.send(url.origin, {
        method: request.method ?? "GET",
        target: `${url.pathname}${url.search}`,
        headers: Object.entries(request.headers ?? {}),
        body: request.body === undefined ? null : encoder.encode(request.body),
      });
      await res.arrayBuffer();
      return opts.expect === undefined ? res.ok : res.status === opts.expect;
    }, opts);
  } finally {
    client.close();
  }
}
