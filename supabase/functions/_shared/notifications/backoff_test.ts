import assert from "node:assert/strict";
import { DEFAULT_RETRY_POLICY, nextRetry, retryDelayMs } from "./backoff.ts";

const MID = () => 0.5;

Deno.test("retryDelayMs doubles from the base delay and stops at the cap", () => {
  const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 1000, maxDelayMs: 10_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, policy, MID)),
    [1000, 2000, 4000, 8000, 10_000, 10_000],
  );
});

Deno.test("the default schedule waits about 1, 2, 4 … 64 minutes over 8 attempts", () => {
  const minutes = [1, 2, 3, 4, 5, 6, 7].map((n) =>
    retryDelayMs(n, DEFAULT_RETRY_POLICY, MID) / 60_000
  );
  assert.deepEqual(minutes, [1, 2, 4, 8, 16, 32, 64]);
  assert.deepEqual(nextRetry(8, DEFAULT_RETRY_POLICY), {
    action: "dead",
    reason: "attempts_exhausted",
  });
});

Deno.test("jitter spreads each wait by at most ±jitter and the waits still grow", () => {
  const p = DEFAULT_RETRY_POLICY;
  assert.equal(retryDelayMs(1, p, () => 0), 48_000);
  assert.equal(retryDelayMs(1, p, () => 0.999999), 72_000);
  for (let n = 1; n < p.maxAttempts - 1; n++) {
    // The longest wait after attempt n is shorter than the shortest after attempt n + 1.
    assert.ok(retryDelayMs(n, p, () => 0.999999) < retryDelayMs(n + 1, p, () => 0), `attempt ${n}`);
  }
});

Deno.test("nextRetry retries until the last attempt, then the notification is dead", () => {
  const policy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 3 };
  assert.equal(nextRetry(1, policy, { random: MID }).action, "retry");
  assert.equal(nextRetry(2, policy, { random: MID }).action, "retry");
  assert.deepEqual(nextRetry(3, policy, { random: MID }), {
    action: "dead",
    reason: "attempts_exhausted",
  });
});

Deno.test("nextRetry honours a longer Retry-After (capped) and gives up on a permanent failure", () => {
  const p = DEFAULT_RETRY_POLICY;
  assert.deepEqual(nextRetry(1, p, { random: MID, retryAfterMs: 600_000 }), {
    action: "retry",
    delayMs: 600_000,
  });
  assert.deepEqual(nextRetry(1, p, { random: MID, retryAfterMs: 1000 }), {
    action: "retry",
    delayMs: 60_000,
  });
  assert.deepEqual(nextRetry(1, p, { random: MID, retryAfterMs: 10 * p.maxDelayMs }), {
    action: "retry",
    delayMs: p.maxDelayMs,
  });
  assert.deepEqual(nextRetry(1, p, { permanent: true }), {
    action: "dead",
    reason: "permanent_failure",
  });
});

Deno.test("retryDelayMs refuses an attempt number below 1", () => {
  assert.throws(() => retryDelayMs(0), /attempt 0 is not a positive integer/);
});
