/**
 * JSON that survives exactly: integers beyond 2^53, long decimals, `-0.0`, unicode, deep
 * nesting. JavaScript numbers would round these, so numbers are kept as their literal text
 * ({@link JsonNumber}) — parsed with `JSON.parse`'s source-text access and written back with
 * `JSON.rawJSON`, both native and fast.
 *
 * {@link canonicalJson} is the one serialisation Stagecoach hashes: object keys sorted by
 * UTF-16 code units (as RFC 8785), no whitespace, strings escaped as `JSON.stringify` does,
 * numbers exactly as they were written (Postgres `jsonb::text` has already normalised them,
 * so equal jsonb values give equal text).
 *
 * @module
 */

/** A JSON number kept as its literal text. */
export class JsonNumber {
  /** The number as written, e.g. `12345678901234567890123` or `1.50`. */
  readonly text: string;
  constructor(text: string) {
    if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
      throw new SyntaxError(`Cannot make a JSON number of "${text}"`);
    }
    this.text = text;
  }
  /** The text, so template literals and comparisons read naturally. */
  toString(): string {
    return this.text;
  }
  /** Serialises as the number itself wherever `JSON.stringify` meets it (API responses). */
  toJSON(): unknown {
    return JSON.rawJSON(this.text);
  }
}

/** A JSON value with lossless numbers. */
export type JsonValue =
  | null
  | boolean
  | string
  | JsonNumber
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A JSON object with lossless numbers. */
export type JsonObject = { [key: string]: JsonValue };

type Reviver = (key: string, value: unknown, context?: { source?: string }) => unknown;

const keepNumbers: Reviver = (_key, value, context) =>
  typeof value === "number" ? new JsonNumber(context?.source ?? String(value)) : value;

/**
 * Parses JSON text without losing any number.
 *
 * @throws {SyntaxError} for malformed JSON (the message names the position)
 * @example
 * ```ts
 * const v = parseJson('{"n": 9007199254740993}') as JsonObject;
 * (v.n as JsonNumber).text; // "9007199254740993"
 * ```
 */
export function parseJson(text: string): JsonValue {
  // Fast path: when no number in the text could change by a round trip through a double
  // (16+ digits, an exponent, a trailing fractional zero, -0), a plain parse is exact and
  // several times faster than a reviver; the check is conservative (matches inside strings
  // only send us down the exact path).
  if (!RISKY_NUMBER.test(text)) return wrapNumbers(JSON.parse(text), []);
  // Otherwise the risky numbers (outside strings) are swapped for marker strings that no
  // parsed string can equal (U+0000 first: only the escape `\u0000` writes one, and the text
  // has none), parsed natively and swapped back: far cheaper than a reviver on every value.
  const exact = () =>
    (JSON.parse as (text: string, reviver: Reviver) => JsonValue)(text, keepNumbers);
  if (text.includes("\\u0000")) return exact();
  const risky: string[] = [];
  const marked = markRiskyNumbers(text, risky);
  try {
    return wrapNumbers(JSON.parse(marked), risky);
  } catch {
    // Malformed (a marker cannot make it well-formed but as a member name, refused below):
    // the exact parse throws, naming the position in the text as given.
    return exact();
  }
}

const RISKY_NUMBER = /\d[\d.]{15}|\d[eE][+-]?\d|\.\d*0(?![\d])|-0(?![.\d])/;
/** A run of number characters that holds a risky number, from its first character. */
const RISKY_RUN =
  /(?<![\w.+-])-?(?=[\d.eE+-]*?(?:\d[\d.]{15}|\d[eE][+-]?\d|\.\d*0(?!\d)))\d[\d.eE+-]*|(?<![\w.+-])-0(?![.\d])/g;
/** A whole JSON number. */
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * The text with every risky number outside strings replaced by the marker string
 * `"\u0000<i>"` (its text saved as `risky[i]`). Only candidate runs are visited; whether one
 * stands inside a string is told by walking the quotes before it.
 */
function markRiskyNumbers(text: string, risky: string[]): string {
  const parts: string[] = [];
  let copied = 0;
  let cursor = 0;
  let inString = false;
  for (const m of text.matchAll(RISKY_RUN)) {
    const at = m.index!;
    for (let q = text.indexOf('"', cursor); q !== -1 && q < at; q = text.indexOf('"', cursor)) {
      cursor = q + 1;
      if (inString) {
        let slashes = 0;
        while (text.charCodeAt(q - 1 - slashes) === 92) slashes++;
        if (slashes % 2) continue;
      }
      inString = !inString;
    }
    if (inString || !NUMBER.test(m[0])) continue;
    parts.push(text.slice(copied, at), `"\\u0000${risky.length}"`);
    risky.push(m[0]);
    copied = at + m[0].length;
  }
  parts.push(text.slice(copied));
  return parts.join("");
}

function wrapNumbers(value: unknown, risky: string[]): JsonValue {
  if (typeof value === "number") return new JsonNumber(String(value));
  if (typeof value === "string") {
    return risky.length && value.charCodeAt(0) === 0
      ? new JsonNumber(risky[Number(value.slice(1))])
      : value;
  }
  if (value === null || typeof value !== "object") return value as JsonValue;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = wrapNumbers(value[i], risky);
    return value as JsonValue[];
  }
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    if (risky.length && key.charCodeAt(0) === 0) throw new SyntaxError("number as member name");
    obj[key] = wrapNumbers(obj[key], risky);
  }
  return obj as JsonObject;
}

declare global {
  interface JSON {
    rawJSON(text: string): unknown;
  }
}

function toSerialisable(value: JsonValue): unknown {
  if (value instanceof JsonNumber) return JSON.rawJSON(value.text);
  if (Array.isArray(value)) return value.map(toSerialisable);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = toSerialisable(value[key]);
    return out;
  }
  return value;
}

/**
 * Serialises a value canonically: sorted keys, no whitespace, numbers verbatim.
 *
 * @example
 * ```ts
 * canonicalJson(parseJson('{"b": 1.50, "a": [true, null]}')); // '{"a":[true,null],"b":1.50}'
 * ```
 */
export function canonicalJson(value: JsonValue): string {
  return JSON.stringify(toSerialisable(value));
}

/**
 * Converts a plain JavaScript value (as built in code) to a {@link JsonValue}: finite
 * numbers become {@link JsonNumber}s, `undefined` object members are dropped.
 *
 * @throws {TypeError} for values JSON cannot hold (NaN, Infinity, bigint-free functions …)
 */
export function toJsonValue(value: unknown): JsonValue {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (value instanceof JsonNumber) return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`Cannot hold ${value} in JSON`);
    return new JsonNumber(JSON.stringify(value));
  }
  if (typeof value === "bigint") return new JsonNumber(value.toString());
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (typeof value === "object") {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined) out[k] = toJsonValue(v);
    }
    return out;
  }
  throw new TypeError(`Cannot hold a ${typeof value} in JSON`);
}

/**
 * True when two values have the same canonical JSON. Compared structurally (nothing is
 * serialised: a planner compares every field of every row on both sides), with the same
 * outcome as comparing their {@link canonicalJson} texts.
 */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    // Plain numbers only come from code (not parsed JSON): compare them as written.
    return typeof a === "number" || typeof b === "number"
      ? canonicalJson(a) === canonicalJson(b)
      : false;
  }
  if (a instanceof JsonNumber || b instanceof JsonNumber) {
    return a instanceof JsonNumber && b instanceof JsonNumber ? a.text === b.text : false;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i] ?? null, b[i] ?? null)) return false;
    return true;
  }
  // Members holding `undefined` are not written: they do not count.
  const keys = Object.keys(a).filter((k) => a[k] !== undefined);
  if (keys.length !== Object.keys(b).filter((k) => b[k] !== undefined).length) return false;
  for (const k of keys) {
    if (b[k] === undefined || !jsonEqual(a[k], b[k])) return false;
  }
  return true;
}

/** Lower-case hex SHA-256 of a UTF-8 string. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 hex of a value's canonical JSON: the content hash used by plans and bundles. */
export async function contentHash(value: JsonValue): Promise<string> {
  return await sha256Hex(canonicalJson(value));
}
