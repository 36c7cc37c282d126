import assert from "node:assert/strict";
import { DEFAULT_RETRY_POLICY } from "./backoff.ts";
import type { ClaimedNotification } from "./delivery.ts";
import { SAMPLE } from "./fixtures_test.ts";
import type { AttemptOutcome } from "./store.ts";
import { deliverDueNotifications, type OutboxStore } from "./worker.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

interface Row {
  n: Omit<ClaimedNotification, "attempt">;
  attempts: number;
  status: "pending" | "delivered" | "dead";
  due: number;
  outcomes: AttemptOutcome[];
}

/** An in-memory outbox with the claim semantics of ops.claim_notifications. */
function memoryStore(count: number, opts: { loseClaims?: boolean } = {}) {
  const rows: Row[] = Array.from({ length: count }, (_, i) => ({
    n: {
      outbox_id: i + 1,
      event_id: crypto.randomUUID(),
      event_type: SAMPLE.type,
      payload: SAMPLE,
      endpoint_id: crypto.randomUUID(),
      endpoint_name: `hook-${i + 1}`,
      endpoint_kind: "webhook",
      url: `https://receiver.test/${i + 1}`,
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
  const report = await deliverDueNotifications(store, { fetch, batchSize: 10 });
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
  const again = await deliverDueNotifications(store, { fetch });
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
    await deliverDueNotifications(store, { fetch, now, random: Math.random });
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
  await deliverDueNotifications(gone.store, { fetch: respond(410).fetch });
  assert.equal(gone.rows[0].status, "dead");
  assert.deepEqual((gone.rows[0].outcomes[0] as { reason: string }).reason, "permanent_failure");

  const refused = memoryStore(1);
  const report = await deliverDueNotifications(refused.store, {
    fetch: () =>
      Promise.reject(new TypeError("error sending request for url (https://receiver.test/1)")),
  });
  assert.equal(report.retried, 1);
  const outcome = refused.rows[0].outcomes[0];
  assert.equal(outcome.status, "pending");
  assert.match(
    outcome.result.ok ? "" : outcome.result.error,
    /^Network error: .*receiver\.test\/…/,
  );
});

Deno.test("a receiver slower than the request timeout is an attempt that timed out", async () => {
  const { rows, store } = memoryStore(1);
  const fetch = (_url: string, init: RequestInit) =>
    new Promise<Response>((_resolve, reject) => {
      init.signal!.addEventListener("abort", () => reject(init.signal!.reason));
    });
  const report = await deliverDueNotifications(store, { fetch, requestTimeoutMs: 50 });
  assert.equal(report.retried, 1);
  const outcome = rows[0].outcomes[0];
  assert.equal(outcome.result.ok ? "" : outcome.result.error, "Timeout: no response within 50 ms");
});

Deno.test("the time budget stops new claims; the rest waits for the next run", async () => {
  const { rows, store } = memoryStore(30);
  const fetch = () =>
    new Promise<Response>((resolve) =>
      setTimeout(() => resolve(new Response(null, { status: 204 })), 30)
    );
  const report = await deliverDueNotifications(store, { fetch, batchSize: 5, budgetMs: 40 });
  assert.equal(report.stopped, "budget");
  assert.ok(report.batches >= 1 && report.batches < 6, `batches ${report.batches}`);
  assert.equal(rows.filter((r) => r.status === "delivered").length, report.delivered);
  assert.ok(rows.some((r) => r.status === "pending" && r.attempts === 0), "some rows were left");
});

Deno.test("an outcome whose claim was lost is counted as lost, not as delivered", async () => {
  const { store } = memoryStore(2, { loseClaims: true });
  const report = await deliverDueNotifications(store, { fetch: respond(204).fetch });
  assert.equal(report.lost, 2);
  assert.equal(report.delivered, 0);
});
