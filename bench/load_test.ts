import assert from "node:assert/strict";
import { type LoadResult, mergeLoadResults, quantile, runLoad } from "./load.ts";

Deno.test("quantile picks the nearest rank", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantile(values, 0.5), 50);
  assert.equal(quantile(values, 0.99), 99);
  assert.equal(quantile(values, 1), 100);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test("runLoad sends exactly the requested number and counts non-2xx as errors", async () => {
  let seen = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    seen++;
    return new Response("x", { status: seen % 4 === 0 ? 500 : 200 });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const result = await runLoad(() => ({ url }), { requests: 40, concurrency: 5 });
    assert.equal(seen, 40);
    assert.equal(result.requests, 40);
    assert.equal(result.errors, 10);
    assert.ok(result.p99Ms >= result.p50Ms);
  } finally {
    await server.shutdown();
  }
});

Deno.test("mergeLoadResults adds slices up and takes quantiles over every latency", () => {
  const part = (latenciesMs: number[], seconds: number, errors: number): LoadResult => ({
    requests: latenciesMs.length,
    concurrency: 2,
    seconds,
    perSecond: latenciesMs.length / seconds,
    p50Ms: NaN,
    p99Ms: NaN,
    errors,
    latenciesMs,
  });
  const merged = mergeLoadResults([part([1, 2, 3], 1, 0), part([4, 5, 6, 7, 8], 3, 2)]);
  assert.equal(merged.requests, 8);
  assert.equal(merged.seconds, 4);
  assert.equal(merged.perSecond, 2);
  assert.equal(merged.errors, 2);
  assert.equal(merged.p50Ms, 4);
  assert.equal(merged.p99Ms, 8);
  assert.throws(
    () => mergeLoadResults([{ ...part([1], 1, 0), latenciesMs: undefined }]),
    /has no latencies/,
  );
});
