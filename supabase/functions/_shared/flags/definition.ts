/**
 * What a feature flag is, as data: the zod schemas of a flag's definition (targeting rules,
 * stickiness, variants) and state (enabled, rollout percent), of an evaluation context and of
 * an evaluation result. The one contract of the TypeScript evaluator (evaluate.ts), the SQL
 * one (`flags.evaluate`), the promotion of kind `flags` and, later, the `flags` function.
 *
 * @module
 */
import { z } from "zod";

/** Operators that compare the context value with any of `values`. */
export const LIST_OPERATORS = [
  "in",
  "not_in",
  "str_contains",
  "str_starts_with",
  "str_ends_with",
] as const;
/** Operators that compare the context value with one `value`. */
export const VALUE_OPERATORS = [
  "eq",
  "num_eq",
  "num_gt",
  "num_gte",
  "num_lt",
  "num_lte",
  "date_after",
  "date_before",
  "semver_eq",
  "semver_gt",
  "semver_gte",
  "semver_lt",
  "semver_lte",
] as const;
/** Every constraint operator (Unleash's, lower-cased, plus `eq`: `in` with one value). */
export const OPERATORS = [...LIST_OPERATORS, ...VALUE_OPERATORS] as const;
/** One of {@link OPERATORS}. */
export type Operator = typeof OPERATORS[number];

/** A context field name: `targeting_key`, `session_id`, `current_time`, or the app's own. */
export const ContextField = z.string().regex(
  /^[A-Za-z_][A-Za-z0-9_]{0,63}$/,
  "a context field: a letter or _, then letters, digits or _ (at most 64)",
);

const ConstraintBase = {
  attribute: ContextField,
  inverted: z.boolean().optional(),
  case_insensitive: z.boolean().optional(),
};

/**
 * One targeting constraint. A flag's `targeting_rules` is a list of them, all of which must
 * hold. List operators take `values` (strings), value operators take `value`.
 */
export const Constraint = z.union([
  z.strictObject({
    ...ConstraintBase,
    op: z.enum(LIST_OPERATORS),
    values: z.array(z.string()).min(1),
  }),
  z.strictObject({
    ...ConstraintBase,
    op: z.enum(VALUE_OPERATORS),
    value: z.union([z.string(), z.number()]),
  }),
]);
/** See {@link Constraint}. */
export type Constraint = z.infer<typeof Constraint>;

/** A variant override: the variant is chosen whenever `attribute` is one of `values`. */
export const VariantOverride = z.strictObject({
  attribute: ContextField,
  values: z.array(z.string()).min(1),
});

/** One variant: chosen by weight among the flag's variants (Unleash's variant hashing). */
export const Variant = z.strictObject({
  name: z.string().min(1).max(128),
  weight: z.number().int().min(0).max(100_000),
  payload: z.json().optional(),
  overrides: z.array(VariantOverride).optional(),
});
/** See {@link Variant}. */
export type Variant = z.infer<typeof Variant>;

/** `default` (the targeting key, else the session id) or the context field to stick to. */
export const Stickiness = z.union([z.literal("default"), ContextField]);

/** The parts of a flag that travel in promotions. */
export const FlagRules = z.object({
  targeting_rules: z.array(Constraint).max(100),
  stickiness: Stickiness,
  variants: z.array(Variant).max(100).refine(
    (vs) => new Set(vs.map((v) => v.name)).size === vs.length,
    "variant names are unique",
  ),
});

/** A flag as the evaluators take it: its definition and its state in one environment. */
export const FlagDefinition = FlagRules.extend({
  key: z.string().min(1),
  enabled: z.boolean(),
  rollout_percent: z.number().int().min(0).max(100),
});
/** See {@link FlagDefinition}. */
export type FlagDefinition = z.infer<typeof FlagDefinition>;

/**
 * An evaluation context: flat, snake_case fields. `targeting_key` is the user id (the default
 * stickiness), `session_id` its fallback, `current_time` (ISO 8601) the clock for date
 * operators. Strings are compared as they are; numbers and booleans as their JSON text; other
 * values count as missing.
 */
export type EvalContext = Record<string, unknown>;

/** Why a flag evaluated as it did (OpenFeature's reasons). */
export type Reason = "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DEFAULT" | "DISABLED" | "ERROR";

/** What both evaluators return, field for field. */
export interface EvaluationResult {
  key: string;
  /** The flag is on for this context. */
  enabled: boolean;
  /** The chosen variant's name; null when off or when the flag has no variants. */
  variant: string | null;
  /** The chosen variant's payload, or null. */
  payload: unknown;
  reason: Reason;
  /** Present only with reason `ERROR`. */
  error_code?: "FLAG_NOT_FOUND";
}

/**
 * What is wrong with the promotable rules of a flag row (`targeting_rules`, `stickiness`,
 * `variants`), one line per problem naming the field, e.g.
 * `targeting_rules.0.op: Invalid option: expected one of "in"|"not_in"|…`.
 *
 * @param row a logical row of kind `flags` (numbers may be lossless `JsonNumber`s)
 * @returns the problems; empty when the rules are valid
 */
export function flagRuleErrors(row: Record<string, unknown>): string[] {
  const plain = JSON.parse(JSON.stringify({
    targeting_rules: row.targeting_rules,
    stickiness: row.stickiness,
    variants: row.variants,
  }));
  const parsed = FlagRules.safeParse(plain);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => `${i.path.join(".") || "(row)"}: ${i.message}`);
}
