import assert from "node:assert/strict";
import type { QueuedRequest, ResponseRow } from "./net_worker_delivery.ts";
import { type NetQueue, runNetWorker } from "./net_worker_loop.ts";

/** An in-memory queue whose database can be "down". */
class FakeQueue implements NetQueue {
  queued: QueuedRequest[] = [];
  responses: ResponseRow[] = [];
  down = false;
  subscriptions = 0;
  onWake: (() => void) | null = null;
  prune?: (ttlSeconds: number) => Promise<void>;
  claim(limit: number): Promise<QueuedRequest[]> {
    if (this.down) return Promise.reject(new Error("connection refused"));
    return Promise.resolve(this.queued.splice(0, limit));
  }
  complete(row: ResponseRow): Promise<void> {
    if (this.down) return Promise.reject(new Error("connection refused"));
    this.responses.push(row);
    return Promise.resolve();
  }
  subscribe(onWake: () => void): Promise<void> {
    if (this.down) return Promise.reject(new Error("connection refused"));
    this.subscriptions++;
    this.onWake = onWake;
    return Promise.resolve();
  }
  unsubscribe(): Promise<void> {
    this.onWake = null;
    return Promise.resolve();
  }
  push(id: number): void {
    this.queued.push({
      id,
      method: "POST",
      url: `http://fake/${id}`,
      headers: {},
      body: null,
      timeout_milliseconds: 1000,
    });
    this.onWake?.();
  }
}

async function until(what: string, probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function okFetch(req: Request): Promise<Response> {
  return Promise.resolve(new Response(new URL(req.url).pathname));
}

Deno.test("runNetWorker delivers a request as soon as it is notified", async () => {
  const queue = new FakeQueue();
  const stop = new AbortController();
  // A poll interval far beyond the wait below: only the notification can wake the loop.
  const done = runNetWorker(queue, {
    signal: stop.signal,
    pollMs: 60_000,
    fetch: okFetch,
    log: () => {},
  });
  await until("subscription", () => queue.onWake !== null);
  queue.push(1);
  await until("response", () => queue.responses.length === 1, 1000);
  assert.equal(queue.responses[0].content, "/1");
  stop.abort();
  await done;
});

Deno.test("runNetWorker picks up queued requests by polling without a notification", async () => {
  const queue = new FakeQueue();
  queue.queued.push({
    id: 5,
    method: "GET",
    url: "http://fake/5",
    headers: {},
    body: null,
    timeout_milliseconds: 100,
  });
  const stop = new AbortController();
  const done = runNetWorker(queue, {
    signal: stop.signal,
    pollMs: 20,
    fetch: okFetch,
    log: () => {},
  });
  await until("response", () => queue.responses.length === 1);
  stop.abort();
  await done;
});

Deno.test("runNetWorker claims in batches until the queue is empty", async () => {
  const queue = new FakeQueue();
  for (let i = 0; i < 25; i++) queue.push(i);
  const stop = new AbortController();
  const done = runNetWorker(queue, {
    signal: stop.signal,
    pollMs: 60_000,
    batchSize: 10,
    fetch: okFetch,
    log: () => {},
  });
  await until("25 responses", () => queue.responses.length === 25);
  stop.abort();
  await done;
});

Deno.test("runNetWorker survives the database going away and resubscribes when it is back", async () => {
  const queue = new FakeQueue();
  const lines: string[] = [];
  const stop = new AbortController();
  const done = runNetWorker(queue, {
    signal: stop.signal,
    pollMs: 10,
    retryMs: 10,
    fetch: okFetch,
    log: (l) => lines.push(l),
  });
  await until("subscription", () => queue.subscriptions === 1);
  queue.down = true;
  await new Promise((r) => setTimeout(r, 60));
  queue.down = false;
  queue.queued.push({
    id: 9,
    method: "GET",
    url: "http://fake/9",
    headers: {},
    body: null,
    timeout_milliseconds: 100,
  });
  await until("response after outage", () => queue.responses.length === 1);
  await until("resubscription", () => queue.subscriptions === 2);
  assert.equal(lines.filter((l) => l.startsWith("Cannot claim requests")).length, 1);
  assert.ok(lines.includes("database reachable again; delivering"));
  stop.abort();
  await done;
});

Deno.test("runNetWorker retries writing a response until the database accepts it", async () => {
  const queue = new FakeQueue();
  const stop = new AbortController();
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => release = r);
  const done = runNetWorker(queue, {
    signal: stop.signal,
    pollMs: 60_000,
    retryMs: 10,
    fetch: async (req) => {
      await gate;
      return okFetch(req);
    },
    log: () => {},
  });
  await until("subscription", () => queue.onWake !== null);
  queue.push(3);
  await new Promise((r) => setTimeout(r, 20));
  queue.down = true;
  release();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(queue.responses.length, 0);
  queue.down = false;
  await until("response", () => queue.responses.length === 1);
  stop.abort();
  await done;
});

Deno.test("runNetWorker lets in-flight deliveries finish when stopped", async () => {
  const queue = new FakeQueue();
  const stop = new AbortController();
  const done = runNetWorker(queue, {
    signal: stop.signal,
    pollMs: 60_000,
    fetch: async (req) => {
      await new Promise((r) => setTimeout(r, 50));
      return okFetch(req);
    },
    log: () => {},
  });
  await until("subscription", () => queue.onWake !== null);
  queue.push(4);
  await new Promise((r) => setTimeout(r, 10));
  stop.abort();
  await done;
  assert.equal(queue.responses.length, 1);
  assert.equal(queue.responses[0].status_code, 200);
});

Deno.test("runNetWorker keeps polling while subscribing hangs", async () => {
  const queue = new FakeQueue();
  queue.subscribe = () => new Promise(() => {}); // a LISTEN stuck in reconnect backoff
  queue.queued.push({
    id: 11,
    method: "GET",
    url: "http://fake/11",
    headers: {},
    body: null,
    timeout_milliseconds: 100,
  });
  const stop = new AbortController();
  const done = runNetWorker(queue, {
    signal: stop.signal,
    pollMs: 20,
    fetch: okFetch,
    log: () => {},
  });
  await until("response", () => queue.responses.length === 1);
  stop.abort();
  await done;
});

Deno.test("runNetWorker prunes old responses with the configured ttl", async () => {
  const queue = new FakeQueue();
  const pruned: number[] = [];
  queue.prune = (ttl: number) => {
    pruned.push(ttl);
    return Promise.resolve();
  };
  const stop = new AbortController();
  const done = runNetWorker(queue, {
    signal: stop.signal,
    pollMs: 10,
    ttlSeconds: 60,
    fetch: okFetch,
    log: () => {},
  });
  await until("a prune", () => pruned.length > 0);
  await new Promise((r) => setTimeout(r, 50));
  stop.abort();
  await done;
  // Once a minute, not at every poll.
  assert.deepEqual(pruned, [60]);
});
