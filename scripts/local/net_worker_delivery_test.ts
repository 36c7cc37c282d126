import assert from "node:assert/strict";
import { deliverRequest, type QueuedRequest } from "./net_worker_delivery.ts";

function queued(overrides: Partial<QueuedRequest> = {}): QueuedRequest {
  return {
    id: 7n,
    method: "POST",
    url: "http://127.0.0.1:9/hook?x=1",
    headers: { "Content-Type": "application/json", Authorization: "Bearer t" },
    body: new TextEncoder().encode('{"source":"test"}'),
    timeout_milliseconds: 1000,
    ...overrides,
  };
}

Deno.test("deliverRequest sends method, url, headers and body, and records the response", async () => {
  let seen: { method: string; url: string; auth: string | null; body: string } | undefined;
  const row = await deliverRequest(queued(), {
    fetch: async (req) => {
      seen = {
        method: req.method,
        url: req.url,
        auth: req.headers.get("authorization"),
        body: await req.text(),
      };
      return new Response('{"ok":true}', {
        status: 202,
        headers: { "content-type": "application/json", "x-a": "b" },
      });
    },
  });
  assert.deepEqual(seen, {
    method: "POST",
    url: "http://127.0.0.1:9/hook?x=1",
    auth: "Bearer t",
    body: '{"source":"test"}',
  });
  assert.deepEqual(row, {
    id: 7n,
    status_code: 202,
    content_type: "application/json",
    headers: { "content-type": "application/json", "x-a": "b" },
    content: '{"ok":true}',
    timed_out: false,
    error_msg: null,
  });
});

Deno.test("deliverRequest sends no body with GET", async () => {
  let body: string | undefined;
  await deliverRequest(queued({ method: "GET", body: null, headers: null }), {
    fetch: async (req) => {
      body = await req.text();
      return new Response("x");
    },
  });
  assert.equal(body, "");
});

Deno.test("deliverRequest records a timeout when the response is slower than the limit", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    await new Promise((r) => setTimeout(r, 400));
    return new Response("late");
  });
  try {
    const row = await deliverRequest(
      queued({ url: `http://127.0.0.1:${server.addr.port}/slow`, timeout_milliseconds: 100 }),
    );
    assert.equal(row.timed_out, true);
    assert.equal(row.status_code, null);
    assert.equal(row.error_msg, "Timeout of 100 ms reached");
  } finally {
    await server.shutdown();
  }
});

Deno.test("deliverRequest records a connection error without throwing", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const row = await deliverRequest(queued({ url: `http://127.0.0.1:${port}/closed` }));
  assert.equal(row.timed_out, false);
  assert.equal(row.status_code, null);
  assert.ok(row.error_msg && row.error_msg.length > 0);
});

Deno.test("deliverRequest does not follow redirects and drops NUL characters from the body", async () => {
  const row = await deliverRequest(queued(), {
    fetch: (req) => {
      assert.equal(req.redirect, "manual");
      return Promise.resolve(
        new Response("a\u0000b", { status: 302, headers: { location: "http://elsewhere/" } }),
      );
    },
  });
  assert.equal(row.status_code, 302);
  assert.equal(row.content, "ab");
  assert.equal(row.headers?.location, "http://elsewhere/");
});

Deno.test("deliverRequest reports an unusable URL as an error", async () => {
  const row = await deliverRequest(queued({ url: "not a url" }));
  assert.match(row.error_msg ?? "", /^Cannot build request/);
});
