/**
 * Tests' flag builder: a flag on for everyone, no rules, no variants, with what the test
 * changes. For tests only.
 *
 * @module
 */
import type { FlagDefinition } from "./definition.ts";

/**
 * A flag definition with the given key and overrides.
 *
 * @example
 * ```ts
 * testFlag({ key: "half", rollout_percent: 50 });
 * ```
 */
export function testFlag(over: Partial<FlagDefinition> & { key: string }): FlagDefinition {
  return {
    enabled: true,
    rollout_percent: 100,
    stickiness: "default",
    targeting_rules: [],
    variants: [],
    ...over,
  };
}
