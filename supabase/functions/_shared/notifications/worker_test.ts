import assert from "node:assert/strict";
import { DEFAULT_RETRY_POLICY } from "./backoff.ts";
import type { ClaimedNotification } from "./delivery.ts";
import { SAMPLE } from "./fixtures_test.ts";
import type { AttemptOutcome } from "./store.ts";
import { deliverDueNotifications, type OutboxStore } from "./worker.ts";
import type { Resolver } from "../outbound/fetch.ts";
import { OUTBOUND_ALLOW_VAR, outboundPolicyFromEnv } from "../outbound/policy.ts";

/** Every receiver name resolves to a public address (these tests never touch DNS). */
const PUBLIC_DNS: Resolver = () => Promise.resolve(["93.184.215.14"]);

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

interface Row {
  n: Omit<ClaimedNotification, "attempt">;
  attempts: number;
  status: "pending" | "delivered" | "dead";
  due: number;
  outcomes: AttemptOutcome[];
}

/** An in-memory outbox with the claim semantics of ops.claim_notifications. */
function memoryStore(count: number, opts: { loseClaims?: boolean; url?: string } = {}) {
  const rows: Row[] = Array.from({ length: count }, (_, i) => ({
    n: {
      outbox_id: i + 1,
      event_id: crypto.randomUUID(),
      event_type: SAMPLE.type,
      payload: SAMPLE,
      endpoint_id: crypto.randomUUID(),
      endpoint_name: `hook-${i + 1}`,
      endpoint_kind: "webhook",
      url: opts.url ?? `https://receiver.test/${i + 1}`,
      signing_secret: SECRET,
    },
    attempts: 0,
    status: "pending",
    due: 0,
    outcomes: [],
  }));
  const store: OutboxStore = {
    claim({ maxRows, leaseMs, asOf }) {
      const due = rows.filter((r) => r.status === "pending" && r.due <= asOf.getTime())
        .slice(0, maxRows);
      for (const r of due) {
        r.attempts++;
        r.due = asOf.getTime() + leaseMs;
      }
      return Promise.resolve(due.map((r) => ({ ...r.n, attempt: r.attempts })));
    },
    record(list) {
      return Promise.resolve(list.map(({ n, outcome }) => {
        const r = rows[n.outbox_id - 1];
        if (opts.loseClaims || r.attempts !== n.attempt || r.status !== "pending") return false;
        r.outcomes.push(outcome);
        r.status = outcome.status;
        if (outcome.status === "pending") r.due = outcome.nextAttemptAt.getTime();
        return true;
      }));
    },
  };
  return { rows, store };
}

function respond(status: number) {
  const calls: string[] = [];
  const fetch = (url: string) => {
    calls.push(url);
    return Promise.resolve(new Response(status === 204 ? null : "nope", { status }));
  };
  return { calls, fetch };
}

Deno.test("deliverDueNotifications delivers every due row once, then finds nothing to do", async () => {
  const { rows, store } = memoryStore(25);
  const { calls, fetch } = respond(204);
  const report = await deliverDueNotifications(store, {
    resolve: PUBLIC_DNS,
    fetch,
    batchSize: 10,
  });
  assert.deepEqual(
    { ...report, elapsed_ms: 0 },
    {
      claimed: 25,
      delivered: 25,
      retried: 0,
      dead: 0,
      lost: 0,
      batches: 3,
      elapsed_ms: 0,
      stopped: "drained",
    },
  );
  assert.equal(new Set(calls).size, 25);
  assert.ok(rows.every((r) => r.status === "delivered"));
  const again = await deliverDueNotifications(store, { resolve: PUBLIC_DNS, fetch });
  assert.equal(again.claimed, 0);
  assert.equal(calls.length, 25, "nothing was sent twice");
});

Deno.test("a failing receiver is retried with growing delays, then the row is dead", async () => {
  const { rows, store } = memoryStore(1);
  const { calls, fetch } = respond(500);
  let clock = Date.parse("2026-11-25T10:00:00Z");
  const now = () => new Date(clock);
  const delays: number[] = [];
  for (let run = 0; run < 20 && rows[0].status === "pending"; run++) {
    await deliverDueNotifications(store, { resolve: PUBLIC_DNS, fetch, now, random: Math.random });
    const last = rows[0].outcomes.at(-1);
    if (last?.status === "pending") {
      delays.push(last.nextAttemptAt.getTime() - clock);
      clock = last.nextAttemptAt.getTime();
    }
  }
  assert.equal(rows[0].status, "dead");
  assert.equal(calls.length, DEFAULT_RETRY_POLICY.maxAttempts);
  assert.equal(delays.length, DEFAULT_RETRY_POLICY.maxAttempts - 1);
  delays.slice(1).forEach((d, i) => assert.ok(d > delays[i], `delay ${i + 2} grows: ${delays}`));
  const dead = rows[0].outcomes.at(-1)!;
  assert.equal(dead.status, "dead");
  assert.equal(dead.result.ok, false);
});

Deno.test("410 Gone makes a row dead at once; a network error is retried", async () => {
  const gone = memoryStore(1);
  await deliverDueNotifications(gone.store, { resolve: PUBLIC_DNS, fetch: respond(410).fetch });
  assert.equal(gone.rows[0].status, "dead");
  assert.deepEqual((gone.rows[0].outcomes[0] as { reason: string }).reason, "permanent_failure");

  const refused = memoryStore(1);
  const report = await deliverDueNotifications(refused.store, {
    resolve: PUBLIC_DNS,
    fetch: () =>
      Promise.reject(new TypeError("error sending request for url (https://receiver.test/1)")),
  });
  assert.equal(report.retried, 1);
  const outcome = refused.rows[0].outcomes[0];
  assert.equal(outcome.status, "pending");
  assert.match(
    outcome.result.ok ? "" : outcome.result.error,
    /^network error: .*receiver\.test\/…/,
  );
});

Deno.test("a receiver slower than the request timeout is an attempt that timed out", async () => {
  const { rows, store } = memoryStore(1);
  const fetch = (_url: string, init: RequestInit) =>
    new Promise<Response>((_resolve, reject) => {
      init.signal!.addEventListener("abort", () => reject(init.signal!.reason));
    });
  const report = await deliverDueNotifications(store, {
    resolve: PUBLIC_DNS,
    fetch,
    requestTimeoutMs: 50,
  });
  assert.equal(report.retried, 1);
  const outcome = rows[0].outcomes[0];
  assert.equal(outcome.result.ok ? "" : outcome.result.error, "timeout: no response within 50 ms");
});

Deno.test("the time budget stops new claims; the rest waits for the next run", async () => {
  const { rows, store } = memoryStore(30);
  const fetch = () =>
    new Promise<Response>((resolve) =>
      setTimeout(() => resolve(new Response(null, { status: 204 })), 30)
    );
  const report = await deliverDueNotifications(store, {
    resolve: PUBLIC_DNS,
    fetch,
    batchSize: 5,
    budgetMs: 40,
  });
  assert.equal(report.stopped, "budget");
  assert.ok(report.batches >= 1 && report.batches < 6, `batches ${report.batches}`);
  assert.equal(rows.filter((r) => r.status === "delivered").length, report.delivered);
  assert.ok(rows.some((r) => r.status === "pending" && r.attempts === 0), "some rows were left");
});

Deno.test("an outcome whose claim was lost is counted as lost, not as delivered", async () => {
  const { store } = memoryStore(2, { loseClaims: true });
  const report = await deliverDueNotifications(store, {
    resolve: PUBLIC_DNS,
    fetch: respond(204).fetch,
  });
  assert.equal(report.lost, 2);
  assert.equal(report.delivered, 0);
});

Deno.test("a notification to an internal address is refused: nothing is sent, the row is dead with the reason", async () => {
  const { rows, store } = memoryStore(1, { url: "http://0x7f000001:8080/hook" });
  const { calls, fetch } = respond(204);
  const report = await deliverDueNotifications(store, { resolve: PUBLIC_DNS, fetch });
  assert.equal(calls.length, 0);
  assert.equal(report.dead, 1);
  const outcome = rows[0].outcomes[0];
  assert.equal(outcome.status, "dead");
  assert.deepEqual(outcome.result, {
    ok: false,
    statusCode: null,
    error: "refused: address 127.0.0.1 is loopback (127.0.0.0/8)",
    permanent: true,
  });
});

Deno.test("a receiver name that resolves inside is refused and tried again later, nothing sent", async () => {
  const { rows, store } = memoryStore(1);
  const { calls, fetch } = respond(204);
  const inside: Resolver = () => Promise.resolve(["93.184.215.14", "169.254.169.254"]);
  const report = await deliverDueNotifications(store, { resolve: inside, fetch });
  assert.equal(calls.length, 0);
  assert.equal(report.retried, 1);
  const outcome = rows[0].outcomes[0];
  assert.equal(outcome.status, "pending");
  assert.equal(
    outcome.result.ok ? "" : outcome.result.error,
    "refused: host receiver.test: address 169.254.169.254 is a cloud metadata service (169.254.169.254/32)",
  );
});

Deno.test("the allow-list lets a development receiver on 127.0.0.1 be reached over http", async () => {
  const { rows, store } = memoryStore(1, { url: "http://127.0.0.1:8080/hook" });
  const { calls, fetch } = respond(204);
  const outbound = outboundPolicyFromEnv({ [OUTBOUND_ALLOW_VAR]: "127.0.0.1" });
  await deliverDueNotifications(store, { fetch, outbound });
  assert.deepEqual(calls, ["http://127.0.0.1:8080/hook"]);
  assert.equal(rows[0].status, "delivered");
});

Deno.test("a response body is never read nor stored: the error is the status alone", async () => {
  const { rows, store } = memoryStore(1);
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new TextEncoder().encode("ami-id\ninstance-id\nsecret-token"));
    },
  }, { highWaterMark: 0 });
  const fetch = () => Promise.resolve(new Response(body, { status: 500 }));
  await deliverDueNotifications(store, { resolve: PUBLIC_DNS, fetch });
  const outcome = rows[0].outcomes[0];
  assert.equal(outcome.result.ok ? "" : outcome.result.error, "http 500");
  assert.equal(pulled, 0, "the body was cancelled unread");
  assert.doesNotMatch(JSON.stringify(rows[0].outcomes), /instance-id|secret-token/);
});

Deno.test("a redirect is a failed delivery that says so; its target is never asked", async () => {
  const { rows, store } = memoryStore(1);
  const calls: { url: string; redirect?: RequestRedirect }[] = [];
  const fetch = (url: string, init: RequestInit) => {
    calls.push({ url, redirect: init.redirect });
    return Promise.resolve(
      new Response(null, { status: 302, headers: { location: "http://169.254.169.254/" } }),
    );
  };
  const report = await deliverDueNotifications(store, { resolve: PUBLIC_DNS, fetch });
  assert.deepEqual(calls, [{ url: "https://receiver.test/1", redirect: "manual" }]);
  assert.equal(report.retried, 1);
  const outcome = rows[0].outcomes[0];
  assert.equal(outcome.result.ok ? "" : outcome.result.error, "http 302: redirect not followed");
});
