import assert from "node:assert/strict";
import Stripe from "stripe";
import type { Sql } from "../_shared/db.ts";
import { cryptoProvider } from "../_shared/stripe/client.ts";
import { createStripeWebhookApp, MAX_EVENT_BYTES, verifyEvent } from "./app.ts";

const secret = "whsec_unit_test_secret_0001";
const stripe = new Stripe("sk_test_unit_00000000", { httpClient: Stripe.createFetchHttpClient() });
// Refused requests must never reach the database: any use of this pool fails the test.
const noDb = new Proxy({}, {
  get() {
    throw new Error("the database was touched");
  },
  apply() {
    throw new Error("the database was touched");
  },
}) as unknown as Sql;
const app = createStripeWebhookApp({ sql: noDb, stripe, webhookSecret: secret });

async function post(body: string, signature?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature) headers["stripe-signature"] = signature;
  const res = await app.request("/stripe-webhook", { method: "POST", headers, body });
  return { status: res.status, code: (await res.json()).error?.code };
}

function sign(payload: string, opts: { secret?: string; timestamp?: number } = {}) {
  return stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: opts.secret ?? secret,
    timestamp: opts.timestamp,
    cryptoProvider,
  });
}

const body = JSON.stringify({
  id: "evt_unit",
  object: "event",
  type: "product.created",
  created: 1,
  livemode: false,
  data: { object: { id: "prod_1", object: "product" } },
});

Deno.test("stripe-webhook app refuses missing, wrong and stale signatures before any write", async () => {
  assert.deepEqual(await post(body), { status: 400, code: "missing_signature" });
  assert.deepEqual(await post(body, await sign(body, { secret: "whsec_other_secret_000" })), {
    status: 400,
    code: "invalid_signature",
  });
  const old = Math.floor(Date.now() / 1000) - 301;
  assert.deepEqual(await post(body, await sign(body, { timestamp: old })), {
    status: 400,
    code: "stale_signature",
  });
});

Deno.test("stripe-webhook app refuses malformed JSON and non-events", async () => {
  const broken = "{not json";
  assert.deepEqual(await post(broken, await sign(broken)), { status: 400, code: "invalid_json" });
  const notEvent = JSON.stringify({ hello: "world" });
  assert.deepEqual(await post(notEvent, await sign(notEvent)), {
    status: 400,
    code: "invalid_event",
  });
});

Deno.test("stripe-webhook app answers 404 for other paths", async () => {
  const res = await app.request("/stripe-webhook/else", { method: "POST" });
  assert.equal(res.status, 404);
});

Deno.test("verifyEvent falls back to the secret catalog sync stored when the function's own does not verify", async () => {
  const signature = await sign(body, { secret: "whsec_new_endpoint_secret_02" });
  const stored = () => Promise.resolve("whsec_new_endpoint_secret_02");
  const event = await verifyEvent(
    { webhookSecret: secret, storedSecret: stored },
    body,
    signature,
  );
  assert.equal((event as { id: string }).id, "evt_unit");
  await assert.rejects(
    verifyEvent(
      { webhookSecret: secret, storedSecret: () => Promise.resolve(null) },
      body,
      signature,
    ),
    (err: { code?: string }) => err.code === "invalid_signature",
  );
});

/** A body of `total` bytes in 64 KiB chunks, made as they are read; counts what was read. */
function countedBody(total: number) {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  const counter = { pulled: 0, finished: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (counter.pulled >= total) {
        counter.finished = true;
        controller.close();
        return;
      }
      const next = chunk.subarray(0, Math.min(chunk.length, total - counter.pulled));
      counter.pulled += next.length;
      controller.enqueue(next);
    },
  }, { highWaterMark: 0 });
  return { stream, counter };
}

async function postStream(stream: ReadableStream<Uint8Array>, headers: Record<string, string>) {
  const res = await app.request("/stripe-webhook", {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=00", ...headers },
    body: stream,
    duplex: "half",
  } as RequestInit);
  return { status: res.status, body: await res.json() };
}

Deno.test("stripe-webhook app refuses a chunked body over 1 MiB with 413 at the limit, writing nothing", async () => {
  const { stream, counter } = countedBody(2 * 1024 * 1024);
  const res = await postStream(stream, {});
  assert.equal(res.status, 413);
  assert.deepEqual(res.body, {
    error: {
      code: "payload_too_large",
      message: `Cannot accept the event: the body is larger than ${MAX_EVENT_BYTES} bytes`,
      details: { max_bytes: MAX_EVENT_BYTES },
    },
  });
  assert.equal(counter.finished, false, "the stream was not read to the end");
  assert.ok(
    counter.pulled <= MAX_EVENT_BYTES + 64 * 1024,
    `reading stopped one chunk past the limit (${counter.pulled} bytes read)`,
  );
  // noDb throws on any use: reaching it would have been a 500.
});

Deno.test("stripe-webhook app refuses a Content-Length over 1 MiB with 413 without reading the body", async () => {
  const { stream, counter } = countedBody(2 * 1024 * 1024);
  const res = await postStream(stream, { "content-length": String(2 * 1024 * 1024) });
  assert.equal(res.status, 413);
  assert.equal(res.body.error.code, "payload_too_large");
  assert.equal(counter.pulled, 0, "not a byte was read");
});

Deno.test("stripe-webhook app reads a body of exactly 1 MiB and checks its signature as usual", async () => {
  const { stream } = countedBody(MAX_EVENT_BYTES);
  const res = await postStream(stream, {});
  assert.equal(res.status, 400);
  assert.equal(res.body.error.code, "invalid_signature");
});
