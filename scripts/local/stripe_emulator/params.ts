/**
 * Request parameters as Stripe reads them: decoded form values (all strings) checked with
 * zod, with Stripe's errors — an unknown parameter is `parameter_unknown`, a missing one
 * `parameter_missing`, a bad value `parameter_invalid_*` — naming the parameter in Stripe's
 * bracket notation (`recurring[interval]`).
 *
 * @module
 */
import { z } from "zod";
import { invalidParameter, missingParameter, unknownParameter } from "./errors.ts";
import type { FormObject } from "./form.ts";

/** A positive or zero whole number sent as a string. */
export const intParam = z.string().regex(/^-?\d+$/, "Invalid integer").transform(Number);
/** `true` / `false`. */
export const boolParam = z.enum(["true", "false"]).transform((v) => v === "true");
/** A non-empty string. */
export const strParam = z.string().min(1);
/** A string that may be sent empty to unset the field (`description=`). */
export const nullableStr = z.string().transform((v) => (v === "" ? null : v));
/** Metadata: a hash of strings, or an empty string to clear every key. */
export const metadataParam = z.union([
  z.literal("").transform(() => null),
  z.record(z.string().max(40), z.string().max(500)),
]);
/** `expand[]`. */
export const expandParam = z.array(z.string().min(1)).max(20);
/** List pagination, shared by every list endpoint. */
export const listParams = {
  limit: intParam.pipe(z.number().int().min(1).max(100)).optional(),
  starting_after: strParam.optional(),
  ending_before: strParam.optional(),
  expand: expandParam.optional(),
};

/** Renders a zod path in Stripe's bracket notation: `["items", 0, "price"]` → `items[0][price]`. */
export function paramName(path: PropertyKey[]): string {
  return path.map((p, i) => (i === 0 ? String(p) : `[${String(p)}]`)).join("");
}

/**
 * Parses decoded parameters with a strict zod schema.
 *
 * @param schema a `z.strictObject` describing the endpoint's parameters
 * @param params the decoded request parameters
 * @returns the typed parameters
 * @throws {StripeApiError} 400 with Stripe's code and the parameter's name
 */
export function parseParams<S extends z.ZodType>(schema: S, params: FormObject): z.infer<S> {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    throw unknownParameter(paramName([...issue.path, issue.keys[0]]));
  }
  const name = paramName(issue.path);
  if (issue.code === "invalid_type" && issue.input === undefined) throw missingParameter(name);
  if (issue.code === "invalid_value" || issue.code === "invalid_union") {
    throw invalidParameter(name, `Invalid ${name}: ${issue.message}`);
  }
  throw invalidParameter(name, `Invalid ${name}: ${issue.message}`);
}

/**
 * Applies a metadata update as Stripe does: keys merge, an empty value removes its key, and
 * an empty `metadata` clears all.
 */
export function mergeMetadata(
  current: Record<string, string>,
  update: Record<string, string> | null | undefined,
): Record<string, string> {
  if (update === undefined) return current;
  if (update === null) return {};
  const next = { ...current };
  for (const [k, v] of Object.entries(update)) {
    if (v === "") delete next[k];
    else next[k] = v;
  }
  return next;
}
