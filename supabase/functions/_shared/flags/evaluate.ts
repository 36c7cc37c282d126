/**
 * The flag evaluator: a flag definition and a context in, an {@link EvaluationResult} out.
 * `flags.evaluate_definition` in SQL is the same function, rule for rule; the tests run both
 * on Unleash's client specification and on random contexts.
 *
 * Order: kill switch (`enabled`), targeting rules (all must hold), rollout (sticky bucket
 * ≤ `rollout_percent`), variant (overrides, then weights). Pure: no I/O; the clock for date
 * operators is `options.now` unless the context names `current_time`.
 *
 * @module
 */
import type { Constraint, EvalContext, EvaluationResult, FlagDefinition } from "./definition.ts";
import { normalizedHash, VARIANT_SEED } from "./murmur3.ts";

/** Options of {@link evaluateFlag}. */
export interface EvaluateOptions {
  /** The time date operators compare with when the context has no `current_time`. */
  now?: Date;
}

const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,2})?$/;
const DATE =
  /^([1-9]\d{3})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-](\d{2}):(\d{2})))?$/;
const SEMVER = new RegExp(
  "^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)" +
    "(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?" +
    "(?:\\+[0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*)?$",
);

/** A context field as text: strings as they are, numbers and booleans as JSON, else none. */
function contextText(ctx: EvalContext, field: string, now: Date): string | undefined {
  const v = ctx[field];
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "boolean") return String(v);
  if (field === "current_time" && v === undefined) return now.toISOString();
  return undefined;
}

/** A decimal number (no NaN, no infinity, at most 32 characters), or null. */
function parseNumber(text: string | number | undefined): number | null {
  const s = typeof text === "number" ? String(text) : text;
  if (s === undefined || s.length > 32 || !NUMBER.test(s)) return null;
  return Number(s);
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** An ISO 8601 date (UTC midnight) or date-time with a zone, as epoch ms, or null. */
function parseDate(text: string | number | undefined): number | null {
  const m = typeof text === "string" ? DATE.exec(text) : null;
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  if (m[4] !== undefined) {
    if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59) return null;
    if (m[8] !== undefined && (Number(m[8]) > 14 || Number(m[9]) > 59)) return null;
  }
  return Date.parse(m[4] === undefined ? `${text}T00:00:00Z` : String(text));
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Math.sign(Number(BigInt(a) - BigInt(b)));
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compares two semantic versions by semver 2.0.0 precedence (build metadata ignored).
 *
 * @returns -1, 0 or 1; null when either is not a strict semantic version (no `v` prefix)
 * @example
 * ```ts
 * compareSemver("2.0.0-alpha.1", "2.0.0-beta"); // -1
 * ```
 */
export function compareSemver(a: string, b: string): number | null {
  const x = SEMVER.exec(a);
  const y = SEMVER.exec(b);
  if (!x || !y) return null;
  for (let i = 1; i <= 3; i++) {
    const c = compareIdentifiers(x[i], y[i]);
    if (c) return c;
  }
  if (x[4] === undefined || y[4] === undefined) {
    return x[4] === y[4] ? 0 : x[4] === undefined ? 1 : -1;
  }
  const xs = x[4].split(".");
  const ys = y[4].split(".");
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const c = compareIdentifiers(xs[i], ys[i]);
    if (c) return c;
  }
  return Math.sign(xs.length - ys.length);
}

function fold(s: string, on: boolean | undefined): string {
  return on ? s.toLowerCase() : s;
}

/** What the operator says of `v` before `inverted` applies. */
function operatorHolds(c: Constraint, v: string | undefined): boolean {
  if (v === undefined) return c.op === "not_in";
  if ("values" in c) {
    const needle = fold(v, c.case_insensitive);
    const values = c.values.map((x) => fold(x, c.case_insensitive));
    if (c.op === "in") return values.includes(needle);
    if (c.op === "not_in") return !values.includes(needle);
    if (c.op === "str_contains") return values.some((x) => needle.includes(x));
    if (c.op === "str_starts_with") return values.some((x) => needle.startsWith(x));
    if (c.op === "str_ends_with") return values.some((x) => needle.endsWith(x));
    return false;
  }
  if (c.op === "eq") {
    return fold(v, c.case_insensitive) === fold(String(c.value), c.case_insensitive);
  }
  const [kind, rel] = c.op.split("_") as [string, string];
  let cmp: number | null = null;
  if (kind === "num") {
    const [a, b] = [parseNumber(v), parseNumber(c.value)];
    if (a !== null && b !== null) cmp = Math.sign(a - b);
  } else if (kind === "date") {
    const [a, b] = [parseDate(v), parseDate(c.value)];
    if (a !== null && b !== null) cmp = Math.sign(a - b);
  } else if (kind === "semver") {
    cmp = compareSemver(v, String(c.value));
  }
  if (cmp === null) return false;
  if (rel === "eq") return cmp === 0;
  if (rel === "gt" || rel === "after") return cmp > 0;
  if (rel === "gte") return cmp >= 0;
  if (rel === "lt" || rel === "before") return cmp < 0;
  if (rel === "lte") return cmp <= 0;
  return false;
}

/**
 * Whether one targeting constraint holds for a context. A missing context field satisfies
 * only `not_in` (then `inverted` flips the answer, as in Unleash); an unknown operator never.
 */
export function constraintHolds(c: Constraint, ctx: EvalContext, now: Date = new Date()): boolean {
  const held = operatorHolds(c, contextText(ctx, c.attribute, now));
  return c.inverted ? !held : held;
}

/** The stickiness value: the named field, or for `default` the targeting key, else the session. */
function stickinessValue(flag: FlagDefinition, ctx: EvalContext, now: Date): string | undefined {
  if (flag.stickiness !== "default") return contextText(ctx, flag.stickiness, now);
  return contextText(ctx, "targeting_key", now) ?? contextText(ctx, "session_id", now);
}

/**
 * Whether the sticky bucket is in the rollout. Without a stickiness value, `default`
 * stickiness is in only at 100% (Unleash would draw at random; we stay deterministic), and a
 * named field is never in (as Unleash).
 */
function inRollout(flag: FlagDefinition, sticky: string | undefined): boolean {
  if (flag.rollout_percent <= 0) return false;
  if (sticky === undefined) return flag.stickiness === "default" && flag.rollout_percent >= 100;
  return normalizedHash(flag.key, sticky, 100) <= flag.rollout_percent;
}

/** The variant: a matching override first, then the weighted draw (Unleash's hashing). */
function chooseVariant(
  flag: FlagDefinition,
  ctx: EvalContext,
  sticky: string | undefined,
  now: Date,
): { name: string; payload: unknown; overridden: boolean } | null {
  for (const v of flag.variants) {
    for (const o of v.overrides ?? []) {
      const value = contextText(ctx, o.attribute, now);
      if (value !== undefined && o.values.includes(value)) {
        return { name: v.name, payload: v.payload ?? null, overridden: true };
      }
    }
  }
  const total = flag.variants.reduce((sum, v) => sum + v.weight, 0);
  if (total <= 0) return null;
  const target = sticky === undefined
    ? total
    : normalizedHash(flag.key, sticky, total, VARIANT_SEED);
  let counter = 0;
  for (const v of flag.variants) {
    counter += v.weight;
    if (v.weight > 0 && target <= counter) {
      return { name: v.name, payload: v.payload ?? null, overridden: false };
    }
  }
  return null;
}

function result(
  key: string,
  enabled: boolean,
  reason: EvaluationResult["reason"],
  variant: { name: string; payload: unknown } | null = null,
): EvaluationResult {
  return {
    key,
    enabled,
    variant: variant?.name ?? null,
    payload: variant?.payload ?? null,
    reason,
  };
}

/** The result for a key that names no flag (reason `ERROR`, `error_code` `FLAG_NOT_FOUND`). */
export function flagNotFound(key: string): EvaluationResult {
  return { ...result(key, false, "ERROR"), error_code: "FLAG_NOT_FOUND" };
}

/**
 * Evaluates one flag for one context.
 *
 * @param flag the flag's definition and state
 * @param ctx the context (see {@link EvalContext})
 * @returns whether the flag is on, the variant, and why
 * @example
 * ```ts
 * evaluateFlag({ key: "new_checkout", enabled: true, rollout_percent: 25, stickiness: "default",
 *   targeting_rules: [{ attribute: "tier", op: "in", values: ["pro"] }], variants: [] },
 *   { targeting_key: "user-1", tier: "pro" });
 * ```
 */
export function evaluateFlag(
  flag: FlagDefinition,
  ctx: EvalContext,
  options: EvaluateOptions = {},
): EvaluationResult {
  const now = options.now ?? new Date();
  if (!flag.enabled) return result(flag.key, false, "DISABLED");
  if (!flag.targeting_rules.every((c) => constraintHolds(c, ctx, now))) {
    return result(flag.key, false, "DEFAULT");
  }
  const sticky = stickinessValue(flag, ctx, now);
  const split = flag.rollout_percent < 100;
  if (!inRollout(flag, sticky)) return result(flag.key, false, split ? "SPLIT" : "DEFAULT");
  const variant = chooseVariant(flag, ctx, sticky, now);
  const matched = flag.targeting_rules.length > 0 ? "TARGETING_MATCH" : "STATIC";
  if (variant?.overridden) return result(flag.key, true, "TARGETING_MATCH", variant);
  return result(flag.key, true, split || variant ? "SPLIT" : matched, variant);
}
