/**
 * Micro-batching of concurrent work, with no added wait: an item submitted while fewer than
 * `maxInFlight` batches run starts a batch at once (alone, under light load); items that
 * arrive while the batches are busy queue and leave together in the next one. Under load the
 * batches grow by themselves, so a round trip and a commit are shared by many items; with one
 * sender nothing waits.
 *
 * Pure scheduling: what a batch does is the `run` function it is given.
 *
 * @module
 */

/** Options of {@link createBatcher}. */
export interface BatcherOptions<I, R> {
  /**
   * Runs one batch. Resolves with one settled result per item, in order (so one item can
   * fail without failing the others); a rejection fails every item of the batch.
   */
  run: (items: I[]) => Promise<PromiseSettledResult<R>[]>;
  /** Most items per batch; default 32. */
  maxBatch?: number;
  /** Most batches running at once; default 2 (one being answered while the next is sent). */
  maxInFlight?: number;
}

/** A running batcher. */
export interface Batcher<I, R> {
  /** Queues an item; resolves or rejects with its own result. */
  submit(item: I): Promise<R>;
  /** Items queued and not yet in a batch. */
  readonly queued: number;
}

interface Waiting<I, R> {
  item: I;
  resolve: (value: R) => void;
  reject: (reason: unknown) => void;
}

/**
 * Creates a batcher.
 *
 * @param opts the batch runner and the limits
 * @returns the batcher
 * @example
 * ```ts
 * const batcher = createBatcher({
 *   run: async (ids: number[]) => ids.map((id) => ({ status: "fulfilled", value: id * 2 })),
 * });
 * await batcher.submit(21); // 42
 * ```
 */
export function createBatcher<I, R>(opts: BatcherOptions<I, R>): Batcher<I, R> {
  const maxBatch = Math.max(1, opts.maxBatch ?? 32);
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 2);
  const queue: Waiting<I, R>[] = [];
  let inFlight = 0;

  function pump(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      inFlight++;
      settle(batch).finally(() => {
        inFlight--;
        pump();
      });
    }
  }

  async function settle(batch: Waiting<I, R>[]): Promise<void> {
    let results: PromiseSettledResult<R>[];
    try {
      results = await opts.run(batch.map((w) => w.item));
      if (results.length !== batch.length) {
        throw new Error(
          `Cannot settle a batch: ${batch.length} items were sent and ${results.length} results came back`,
        );
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    results.forEach((r, i) => {
      if (r.status === "fulfilled") batch[i].resolve(r.value);
      else batch[i].reject(r.reason);
    });
  }

  return {
    submit(item: I): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        pump();
      });
    },
    get queued() {
      return queue.length;
    },
  };
}
