/**
 * A small closed-loop HTTP load generator: `concurrency` senders each send their next request
 * as soon as the previous one answered, until `requests` have been sent. Latencies are kept
 * for percentiles.
 *
 * @module
 */

/** Figures of one load run. */
export interface LoadResult {
  requests: number;
  concurrency: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
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
  };
}

/**
 * Sends `requests` requests made by `makeRequest` with `concurrency` senders.
 *
 * @param makeRequest builds request number i (a fresh Request each time: bodies are streams)
 * @param opts.expect the status that counts as success; default any 2xx
 * @returns throughput and latency figures; any other answer counts as an error
 */
export function runLoad(
  makeRequest: (i: number) => Request,
  opts: { requests: number; concurrency: number; expect?: number },
): Promise<LoadResult> {
  return runCalls(async (i) => {
    const res = await fetch(makeRequest(i));
    await res.arrayBuffer();
    return opts.expect === undefined ? res.ok : res.status === opts.expect;
  }, opts);
}
