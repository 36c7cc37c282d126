/**
 * Our flags in the OpenFeature Remote Evaluation Protocol (OFREP): the request's context, one
 * flag's answer, the bulk answer and its ETag. Pure (values in, values out); the `flags` Edge
 * Function serves it, evaluating with the one evaluator (evaluate.ts).
 *
 * - **Context.** OFREP's `targetingKey` becomes our `targeting_key`; when absent (or empty) the
 *   caller's user id is the default. Other fields pass as they are. A body that is not JSON is
 *   `PARSE_ERROR`; a context that is not an object, a `targetingKey` that is not a string, or a
 *   context naming `targeting_key` itself (two spellings of one thing) is `INVALID_CONTEXT`.
 * - **Value.** A flag without variants is a boolean flag: `value` is whether it is on, `variant`
 *   `on` or `off`. A flag with variants: the chosen variant's `payload` (any JSON), or its name
 *   when it has none; when off (or no variant is chosen) the answer has no `value`, which OFREP
 *   defines as "use the code default" (ADR 0006).
 * - **Reason.** Ours, except `DEFAULT` (targeting rules excluded the context), which OFREP's
 *   reasons lack: the targeting decided, so `TARGETING_MATCH`.
 * - **Errors.** An unknown key is `FLAG_NOT_FOUND` (404 alone, absent from bulk); a stored
 *   definition the schema refuses is `PARSE_ERROR`; a flag whose answer would depend on a
 *   stickiness value the context lacks (a rollout between 0 and 100 %, a named stickiness
 *   field, or a weighted draw among variants) is `TARGETING_KEY_MISSING` instead of a guess.
 *   A variant payload that is an array (OFREP values are booleans, strings, numbers or
 *   objects) makes the flag a `PARSE_ERROR` too.
 *
 * @module
 */
import { contentHash, toJsonValue } from "../json/lossless.ts";
import { type EvalContext, type EvaluationResult, FlagDefinition } from "./definition.ts";
import { constraintHolds, evaluateFlag, stickinessValue } from "./evaluate.ts";

/** The reasons we answer with (OFREP's success reasons but `UNKNOWN`). */
export type OfrepReason = "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DISABLED";
/** The error codes we answer with. */
export type OfrepErrorCode =
  | "FLAG_NOT_FOUND"
  | "TARGETING_KEY_MISSING"
  | "PARSE_ERROR"
  | "INVALID_CONTEXT";

/** A successful evaluation; without `value` the client uses its code default. */
export interface OfrepSuccess {
  key: string;
  reason: OfrepReason;
  value?: unknown;
  variant?: string;
}

/** A failed evaluation of one flag. */
export interface OfrepFailure {
  key: string;
  errorCode: OfrepErrorCode;
  errorDetails: string;
}

/** One flag's answer. */
export type OfrepEvaluation = OfrepSuccess | OfrepFailure;

/** A stored flag, parsed once per version: its definition, or why it cannot be evaluated. */
export type CompiledFlag =
  | { key: string; definition: FlagDefinition; clockDependent: boolean; problem?: undefined }
  | { key: string; problem: string; definition?: undefined; clockDependent?: undefined };

/** Every stored flag of one version, in the store's order, and by key. */
export interface FlagSet {
  version: string;
  list: CompiledFlag[];
  byKey: Map<string, CompiledFlag>;
  /** Flags whose answer moves with the clock (they read `current_time`). */
  clockDependent: CompiledFlag[];
}

/** A request OFREP answers with 400 and an error code. */
export class OfrepRequestError extends Error {
  /** `PARSE_ERROR` or `INVALID_CONTEXT`. */
  readonly code: "PARSE_ERROR" | "INVALID_CONTEXT";
  constructor(code: "PARSE_ERROR" | "INVALID_CONTEXT", message: string) {
    super(message);
    this.name = "OfrepRequestError";
    this.code = code;
  }
}

function readsClock(def: FlagDefinition): boolean {
  return def.stickiness === "current_time" ||
    def.targeting_rules.some((c) => c.attribute === "current_time") ||
    def.variants.some((v) => (v.overrides ?? []).some((o) => o.attribute === "current_time"));
}

/**
 * Parses the stored definitions of one version (what `flags.definitions_since` returns).
 *
 * @param version the store's version stamp
 * @param rows the definitions, `{ key, enabled, rollout_percent, stickiness, targeting_rules,
 *   variants }` each
 * @returns the flag set; a row the schema refuses is kept with its problem (`PARSE_ERROR`)
 */
export function compileFlagSet(version: string, rows: readonly unknown[]): FlagSet {
  const list: CompiledFlag[] = rows.map((row) => {
    const key = String((row as { key?: unknown }).key);
    const parsed = FlagDefinition.safeParse(row);
    if (!parsed.success) {
      const problem = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
      return { key, problem: problem.join("; ") };
    }
    const listed = parsed.data.variants.findIndex((v) => Array.isArray(v.payload));
    if (listed >= 0) {
      // OFREP values are booleans, strings, numbers or objects; an array is none of them.
      return { key, problem: `variants.${listed}.payload: an array, which OFREP cannot serve` };
    }
    return { key, definition: parsed.data, clockDependent: readsClock(parsed.data) };
  });
  return {
    version,
    list,
    byKey: new Map(list.map((f) => [f.key, f])),
    clockDependent: list.filter((f) => f.clockDependent === true),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function jsonKind(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/**
 * Reads an OFREP request body (`{ "context": { "targetingKey": …, … } }`) into our context.
 *
 * @param text the raw body; empty, or without `context`, is an empty context
 * @param opts.userId the caller's user id (a user's JWT): the default targeting key
 * @returns the context, `targeting_key` set from `targetingKey` or the user id
 * @throws {OfrepRequestError} `PARSE_ERROR` (not JSON) or `INVALID_CONTEXT`
 * @example
 * ```ts
 * parseEvaluationRequest('{"context": {"targetingKey": "u1", "tier": "pro"}}');
 * // { tier: "pro", targeting_key: "u1" }
 * ```
 */
export function parseEvaluationRequest(
  text: string,
  opts: { userId?: string } = {},
): EvalContext {
  let body: unknown = {};
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      throw new OfrepRequestError("PARSE_ERROR", "Cannot read the request: the body is not JSON");
    }
  }
  if (!isObject(body)) {
    throw new OfrepRequestError(
      "INVALID_CONTEXT",
      `Cannot read the request: the body is a JSON ${jsonKind(body)}, not an object`,
    );
  }
  const context = body.context ?? {};
  if (!isObject(context)) {
    throw new OfrepRequestError(
      "INVALID_CONTEXT",
      `Cannot read the context: it is a JSON ${jsonKind(context)}, not an object`,
    );
  }
  if ("targeting_key" in context) {
    throw new OfrepRequestError(
      "INVALID_CONTEXT",
      "Cannot read the context: it names targeting_key; send the targeting key as targetingKey",
    );
  }
  const { targetingKey, ...rest } = context;
  if (targetingKey !== undefined && typeof targetingKey !== "string") {
    throw new OfrepRequestError(
      "INVALID_CONTEXT",
      `Cannot read the context: targetingKey is a JSON ${jsonKind(targetingKey)}, not a string`,
    );
  }
  const key = targetingKey || opts.userId;
  return key === undefined ? rest : { ...rest, targeting_key: key };
}

/** Whether the answer hangs on a stickiness value the context lacks; the reason, or null. */
function missingStickiness(def: FlagDefinition, ctx: EvalContext, now: Date): string | null {
  if (!def.enabled || def.rollout_percent <= 0) return null;
  if (stickinessValue(def, ctx, now) !== undefined) return null;
  if (!def.targeting_rules.every((c) => constraintHolds(c, ctx, now))) return null;
  const overridden = def.variants.some((v) =>
    (v.overrides ?? []).some((o) =>
      constraintHolds({ attribute: o.attribute, op: "in", values: o.values }, ctx, now)
    )
  );
  const draws = !overridden && def.variants.filter((v) => v.weight > 0).length > 1;
  if (def.rollout_percent >= 100 && def.stickiness === "default" && !draws) return null;
  const field = def.stickiness === "default"
    ? "targetingKey (or session_id)"
    : `the context field ${def.stickiness}`;
  return `Cannot evaluate flag ${def.key}: it splits by ${field}, which the context lacks`;
}

function toOfrep(def: FlagDefinition, r: EvaluationResult): OfrepSuccess {
  const reason = (r.reason === "DEFAULT" ? "TARGETING_MATCH" : r.reason) as OfrepReason;
  if (def.variants.length === 0) {
    return { key: r.key, value: r.enabled, variant: r.enabled ? "on" : "off", reason };
  }
  if (r.variant === null) return { key: r.key, reason };
  return { key: r.key, value: r.payload ?? r.variant, variant: r.variant, reason };
}

/**
 * Evaluates one flag for OFREP.
 *
 * @param flag the compiled flag, or undefined when the key names none
 * @param key the requested key
 * @param ctx the context (from {@link parseEvaluationRequest})
 * @param now the clock of date operators
 * @returns the answer: a success, or a failure with its error code
 * @example
 * ```ts
 * const set = compileFlagSet("v1", [{ key: "dark_mode", enabled: true, rollout_percent: 100,
 *   stickiness: "default", targeting_rules: [], variants: [] }]);
 * evaluateOfrep(set.byKey.get("dark_mode"), "dark_mode", {});
 * // { key: "dark_mode", value: true, variant: "on", reason: "STATIC" }
 * ```
 */
export function evaluateOfrep(
  flag: CompiledFlag | undefined,
  key: string,
  ctx: EvalContext,
  now: Date = new Date(),
): OfrepEvaluation {
  if (!flag) return { key, errorCode: "FLAG_NOT_FOUND", errorDetails: `Flag ${key} was not found` };
  if (flag.problem !== undefined) {
    return {
      key,
      errorCode: "PARSE_ERROR",
      errorDetails:
        `Cannot evaluate flag ${key}: its stored definition is invalid (${flag.problem})`,
    };
  }
  const missing = missingStickiness(flag.definition, ctx, now);
  if (missing) return { key, errorCode: "TARGETING_KEY_MISSING", errorDetails: missing };
  return toOfrep(flag.definition, evaluateFlag(flag.definition, ctx, { now }));
}

/**
 * The HTTP status of a single evaluation: 200, 404 for `FLAG_NOT_FOUND`, else 400.
 */
export function ofrepStatus(answer: OfrepEvaluation): 200 | 400 | 404 {
  if (!("errorCode" in answer)) return 200;
  return answer.errorCode === "FLAG_NOT_FOUND" ? 404 : 400;
}

/**
 * Evaluates every flag of a set for one context (the bulk answer's `flags`).
 */
export function evaluateAll(set: FlagSet, ctx: EvalContext, now: Date = new Date()) {
  return set.list.map((f) => evaluateOfrep(f, f.key, ctx, now));
}

/**
 * The bulk answer's ETag: a hash of the definitions' version and the context — and, when the
 * context gives no `current_time`, of the answers of the flags that read the clock, which
 * change without any definition changing. Equal ETags mean equal answers, so a matching
 * `If-None-Match` is answered 304 without evaluating the other flags.
 *
 * @returns a strong ETag, quoted
 */
export async function bulkEtag(set: FlagSet, ctx: EvalContext, now: Date = new Date()) {
  const clock = "current_time" in ctx
    ? []
    : set.clockDependent.map((f) => evaluateOfrep(f, f.key, ctx, now));
  const hash = await contentHash(toJsonValue({ version: set.version, context: ctx, clock }));
  return `"${hash.slice(0, 32)}"`;
}

/**
 * Whether an `If-None-Match` header names the ETag (a list, weak or strong; `*` is not
 * honoured: OFREP's conditional POST compares tags).
 */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
