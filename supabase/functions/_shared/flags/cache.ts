/**
 * The per-instance cache of flag definitions behind the `flags` function: one compiled
 * {@link FlagSet} per definitions version, revalidated with one small query (the store answers
 * the version alone while it is unchanged) at most every `maxAgeMs`. Concurrent requests share
 * one check. Pure apart from the loader it is given.
 *
 * @module
 */
import { compileFlagSet, type FlagSet } from "./ofrep.ts";

/** What the store answers: its version, and the definitions when they differ from ours. */
export interface DefinitionsSnapshot {
  version: string;
  /** Null when the version is the one asked about. */
  definitions: unknown[] | null;
}

/** Reads the store, given the version the cache holds (null: none yet). */
export type LoadDefinitions = (knownVersion: string | null) => Promise<DefinitionsSnapshot>;

/** The cache: `get()` the current flag set. */
export interface FlagCache {
  get(): Promise<FlagSet>;
}

/**
 * Creates the cache.
 *
 * @param load the store (`sqlDefinitions(sql)` in the function)
 * @param opts.maxAgeMs how long a check stays good; default 0: every request checks
 * @param opts.now the clock in ms, for tests
 * @example
 * ```ts
 * const cache = createFlagCache(sqlDefinitions(sql), { maxAgeMs: 1000 });
 * const set = await cache.get();
 * ```
 */
export function createFlagCache(
  load: LoadDefinitions,
  opts: { maxAgeMs?: number; now?: () => number } = {},
): FlagCache {
  const maxAgeMs = opts.maxAgeMs ?? 0;
  const now = opts.now ?? Date.now;
  let current: FlagSet | null = null;
  let checkedAt = 0;
  let inflight: Promise<FlagSet> | null = null;

  async function check(): Promise<FlagSet> {
    const snapshot = await load(current?.version ?? null);
    if (!current || snapshot.version !== current.version) {
      if (snapshot.definitions === null) {
        throw new Error(
          `Cannot refresh flag definitions: the store sent none for version ${snapshot.version}`,
        );
      }
      current = compileFlagSet(snapshot.version, snapshot.definitions);
    }
    checkedAt = now();
    return current;
  }

  return {
    get(): Promise<FlagSet> {
      if (current && now() - checkedAt < maxAgeMs) return Promise.resolve(current);
      inflight ??= check().finally(() => (inflight = null));
      return inflight;
    },
  };
}
