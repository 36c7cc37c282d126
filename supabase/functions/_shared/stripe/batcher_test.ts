import assert from "node:assert/strict";
import { createBatcher } from "./batcher.ts";

/** Lets every pending promise callback run (a settled batch starts the next one). */
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A batch runner that records its batches and finishes each when told. */
function controlledRunner() {
  const batches: number[][] = [];
  const finish: (() => void)[] = [];
  return {
    batches,
    finishNext: () => finish.shift()!(),
    run: (items: number[]) => {
      batches.push(items);
      return new Promise<PromiseSettledResult<number>[]>((resolve) =>
        finish.push(() =>
          resolve(
            items.map((i) =>
              i < 0
                ? { status: "rejected", reason: new Error(`bad ${i}`) }
                : { status: "fulfilled", value: i * 10 }
            ),
          )
        )
      );
    },
  };
}

Deno.test("createBatcher sends a lone item at once, in a batch of its own", async () => {
  const runner = controlledRunner();
  const batcher = createBatcher({ run: runner.run });
  const result = batcher.submit(1);
  assert.deepEqual(runner.batches, [[1]]);
  runner.finishNext();
  assert.equal(await result, 10);
});

Deno.test("createBatcher groups items that arrive while the batches in flight are busy", async () => {
  const runner = controlledRunner();
  const batcher = createBatcher({ run: runner.run, maxInFlight: 1, maxBatch: 3 });
  const results = [1, 2, 3, 4, 5, 6].map((i) => batcher.submit(i));
  assert.deepEqual(runner.batches, [[1]]);
  assert.equal(batcher.queued, 5);
  runner.finishNext();
  await tick();
  assert.deepEqual(runner.batches, [[1], [2, 3, 4]], "at most maxBatch items leave together");
  runner.finishNext();
  await tick();
  runner.finishNext();
  assert.deepEqual(await Promise.all(results), [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(runner.batches, [[1], [2, 3, 4], [5, 6]]);
});

Deno.test("createBatcher runs at most maxInFlight batches at once", () => {
  const runner = controlledRunner();
  const batcher = createBatcher({ run: runner.run, maxInFlight: 2 });
  for (const i of [1, 2, 3, 4]) batcher.submit(i).catch(() => {});
  assert.deepEqual(runner.batches, [[1], [2]]);
  assert.equal(batcher.queued, 2);
});

Deno.test("createBatcher fails only the item whose result failed", async () => {
  const runner = controlledRunner();
  const batcher = createBatcher({ run: runner.run, maxInFlight: 1 });
  const first = batcher.submit(1);
  const good = batcher.submit(2);
  const bad = batcher.submit(-3);
  runner.finishNext();
  assert.equal(await first, 10);
  await tick();
  assert.deepEqual(runner.batches, [[1], [2, -3]]);
  runner.finishNext();
  assert.equal(await good, 20);
  await assert.rejects(bad, /bad -3/);
});

Deno.test("createBatcher fails every item of a batch whose runner threw or miscounted", async () => {
  const thrown = createBatcher<number, number>({
    run: () => Promise.reject(new Error("connection lost")),
  });
  await assert.rejects(thrown.submit(1), /connection lost/);
  const short = createBatcher<number, number>({
    run: () => Promise.resolve([]),
  });
  await assert.rejects(
    short.submit(1),
    /Cannot settle a batch: 1 items were sent and 0 results came back/,
  );
});
