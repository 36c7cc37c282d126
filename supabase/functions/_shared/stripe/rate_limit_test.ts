import assert from "node:assert/strict";
import { createRateLimiter, retryDelayMs } from "./rate_limit.ts";

function fakeClock() {
  let t = 0;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: (ms: number) => {
      sleeps.push(ms);
      t += ms;
      return Promise.resolve();
    },
    sleeps,
  };
}

Deno.test("createRateLimiter paces calls to the rate", async () => {
  const clock = fakeClock();
  const limiter = createRateLimiter({ perSecond: 10, now: clock.now, sleep: clock.sleep });
  for (let i = 0; i < 30; i++) await limiter.run(() => Promise.resolve(i));
  // 10 calls ride the initial burst; 20 more need 2 s at 10/s.
  assert.ok(Math.abs(clock.now() - 2000) <= 10, `took ${clock.now()} ms`);
});

Deno.test("createRateLimiter waits Retry-After on a 429 and retries", async () => {
  const clock = fakeClock();
  const limiter = createRateLimiter({ perSecond: 100, now: clock.now, sleep: clock.sleep });
  let calls = 0;
  const value = await limiter.run(() => {
    calls++;
    if (calls < 3) {
      return Promise.reject(
        Object.assign(new Error("rate"), { statusCode: 429, headers: { "retry-after": "2" } }),
      );
    }
    return Promise.resolve("ok");
  });
  assert.equal(value, "ok");
  assert.equal(limiter.limited, 2);
  assert.deepEqual(clock.sleeps.filter((ms) => ms >= 1000), [2000, 2000]);
});

Deno.test("createRateLimiter does not retry other errors", async () => {
  const limiter = createRateLimiter();
  await assert.rejects(
    () => limiter.run(() => Promise.reject(Object.assign(new Error("nope"), { statusCode: 400 }))),
    /nope/,
  );
});

Deno.test("retryDelayMs uses Retry-After, else doubles from 1 s", () => {
  assert.equal(retryDelayMs({ headers: { "retry-after": "3" } }, 0), 3000);
  assert.equal(retryDelayMs({}, 0), 1000);
  assert.equal(retryDelayMs({}, 3), 8000);
});
