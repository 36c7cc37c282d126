/**
 * The delivery loop of the pg_net stand-in: wake on NOTIFY or every poll interval, claim
 * queued requests, deliver them concurrently, record each response. Storage is behind
 * {@link NetQueue} (Postgres in `net_worker_queue.ts`), so the loop is tested with a fake.
 *
 * The loop never gives up on the database: a failed claim is logged once per outage and
 * retried at the next tick; a response that cannot be written is retried until it is written
 * or the worker stops. After an outage the NOTIFY subscription is renewed.
 *
 * @module
 */
import {
  type DeliverOptions,
  deliverRequest,
  type QueuedRequest,
  type ResponseRow,
} from "./net_worker_delivery.ts";

/** Where queued requests come from and responses go. */
export interface NetQueue {
  /** Removes and returns up to `limit` queued requests, oldest first. */
  claim(limit: number): Promise<QueuedRequest[]>;
  /** Records the outcome of a delivered request. */
  complete(row: ResponseRow): Promise<void>;
  /** Calls `onWake` whenever a request is queued; resolves once subscribed. */
  subscribe(onWake: () => void): Promise<void>;
  /** Drops the subscription (errors ignored). */
  unsubscribe(): Promise<void>;
  /** Deletes responses older than `ttlSeconds`, as pg_net does (`pg_net.ttl`). */
  prune?(ttlSeconds: number): Promise<void>;
}

/** Options of {@link runNetWorker}. */
export interface NetWorkerOptions {
  /** Stops the loop; in-flight deliveries finish (or time out) first. */
  signal: AbortSignal;
  /** Poll interval, default 1000 ms. */
  pollMs?: number;
  /** Requests claimed per query, default 200 (pg_net's batch size). */
  batchSize?: number;
  /** Deliveries in flight at most, default 200. */
  maxInFlight?: number;
  /** Delay between attempts to write a response, default 1000 ms. */
  retryMs?: number;
  /** How long in-flight deliveries may run on after the stop signal, default 3000 ms. */
  graceMs?: number;
  /** Sends requests; defaults to the global `fetch`. */
  fetch?: DeliverOptions["fetch"];
  /** Responses are kept this long, default 6 hours (pg_net's default `ttl`). */
  ttlSeconds?: number;
  /** Receives progress lines; default `console.log`. */
  log?: (line: string) => void;
}

/**
 * Runs the delivery loop until `opts.signal` aborts.
 *
 * @param queue the request queue
 * @param opts stop signal, timings and logging
 * @returns when stopped and every in-flight delivery has been recorded or abandoned
 * @example
 * ```ts
 * const stop = new AbortController();
 * Deno.addSignalListener("SIGTERM", () => stop.abort());
 * await runNetWorker(postgresQueue(sql), { signal: stop.signal });
 * ```
 */
export async function runNetWorker(queue: NetQueue, opts: NetWorkerOptions): Promise<void> {
  const pollMs = opts.pollMs ?? 1000;
  const batchSize = opts.batchSize ?? 200;
  const maxInFlight = opts.maxInFlight ?? 200;
  const retryMs = opts.retryMs ?? 1000;
  const log = opts.log ?? ((line: string) => console.log(line));
  const { signal } = opts;
  // Deliveries outlive the stop signal by a grace period, then are cancelled.
  const cancel = new AbortController();
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const onStop = () => {
    graceTimer = setTimeout(() => cancel.abort(), opts.graceMs ?? 3000);
  };
  if (signal.aborted) onStop();
  else signal.addEventListener("abort", onStop, { once: true });
  const inFlight = new Set<Promise<void>>();
  let subscribed = false;
  let prunedAt = 0;
  let outage: string | null = null;
  let wakeUp: () => void = () => {};
  let woken = false;
  const onWake = () => {
    woken = true;
    wakeUp();
  };

  async function record(row: ResponseRow): Promise<void> {
    for (let attempt = 1;; attempt++) {
      try {
        await queue.complete(row);
        return;
      } catch (err) {
        if (attempt === 1) {
          log(`Cannot record response ${row.id} yet: ${(err as Error).message}; retrying`);
        }
        if (signal.aborted) {
          log(`Cannot record response ${row.id}: the worker is stopping`);
          return;
        }
        await sleep(retryMs, signal);
      }
    }
  }

  function deliver(request: QueuedRequest): void {
    const started = performance.now();
    const task = deliverRequest(request, { fetch: opts.fetch, signal: cancel.signal }).then(
      async (row) => {
        const took = Math.round(performance.now() - started);
        const outcome = row.status_code ??
          (row.timed_out ? "timed out" : `error: ${row.error_msg}`);
        log(`#${request.id} ${request.method} ${redact(request.url)} → ${outcome} (${took} ms)`);
        await record(row);
      },
    );
    inFlight.add(task);
    task.finally(() => inFlight.delete(task));
  }

  // Subscribing runs beside the loop: after an outage, postgres.js may take a while (its
  // reconnect backoff) to listen again, and polling must not wait for it.
  let subscribing = false;
  function ensureSubscribed(): void {
    if (subscribed || subscribing || signal.aborted) return;
    subscribing = true;
    queue.unsubscribe().catch(() => {})
      .then(() => queue.subscribe(onWake))
      .then(() => subscribed = true, () => {})
      .finally(() => subscribing = false);
  }

  while (!signal.aborted) {
    woken = false;
    try {
      ensureSubscribed();
      // Claim until a batch comes back short (the queue is drained) or we are at capacity.
      for (;;) {
        const room = Math.min(batchSize, maxInFlight - inFlight.size);
        if (room <= 0 || signal.aborted) break;
        const claimed = await queue.claim(room);
        for (const request of claimed) deliver(request);
        if (claimed.length < room) break;
      }
      if (queue.prune && Date.now() - prunedAt > 60_000) {
        prunedAt = Date.now();
        await queue.prune(opts.ttlSeconds ?? 6 * 3600);
      }
      if (outage !== null) {
        log("database reachable again; delivering");
        outage = null;
      }
    } catch (err) {
      const message = (err as Error).message;
      if (outage === null) log(`Cannot claim requests: ${message}; retrying every ${pollMs} ms`);
      outage = message;
      subscribed = false;
    }
    if (woken || signal.aborted) continue;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, pollMs);
      signal.addEventListener("abort", done, { once: true });
      wakeUp = done;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        wakeUp = () => {};
        resolve();
      }
    });
  }
  await Promise.allSettled([...inFlight]);
  clearTimeout(graceTimer);
  cancel.abort();
  await queue.unsubscribe().catch(() => {});
}

/** The URL without its query string, which may carry tokens. */
function redact(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
