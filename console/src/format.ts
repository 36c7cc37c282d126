/**
 * Pure presentation of what the `ops` API answers: a plan grouped by kind, money as money,
 * JSON pretty-printed exactly (numbers as written, never rounded), secrets only as their
 * fingerprints. Values in, values out; the pages render them.
 *
 * @module
 */
import { JsonNumber } from "../../supabase/functions/_shared/json/lossless.ts";

/**
 * JSON as the console reads it (`api.ts` `parseExact`): numbers a double holds exactly are
 * numbers, any other number is a {@link JsonNumber} with its text.
 */
export type ExactJson =
  | null
  | boolean
  | string
  | number
  | JsonNumber
  | ExactJson[]
  | { [key: string]: ExactJson };

/** A JSON object as the console reads it. */
export type ExactObject = { [key: string]: ExactJson };

/** One change of a plan as the page shows it. */
export interface ShownChange {
  kind: string;
  key: string;
  action: string;
  risk: "low" | "high";
  reasons: string[];
  before: ExactObject | null;
  after: ExactObject | null;
}

/** A field of a change: its name and the text before and after (null: absent). */
export interface FieldDiff {
  name: string;
  before: string | null;
  after: string | null;
  /** A secret's field: only its fingerprint is ever shown. */
  secret: boolean;
}

/** Fields never shown as a row of their own (they shape how others are shown). */
const FOLDED = new Set(["currency", "is_secret"]);

/**
 * Pretty-prints a JSON value with two-space indents, every number exactly as written.
 *
 * @example
 * ```ts
 * prettyJson(parseJson('{"n": 12345678901234567890}')); // '{\n  "n": 12345678901234567890\n}'
 * ```
 */
export function prettyJson(value: ExactJson): string {
  return JSON.stringify(serialisable(value), null, 2);
}

function serialisable(value: ExactJson): unknown {
  if (value instanceof JsonNumber) return JSON.rawJSON(value.text);
  if (Array.isArray(value)) return value.map(serialisable);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = serialisable(v);
    return out;
  }
  return value;
}

/**
 * Formats an amount in a currency's minor units as money, exactly (no floating point):
 * `1999` `usd` → `$19.99`; zero-decimal currencies (`jpy`) keep their units.
 *
 * @param amount the minor units, e.g. Stripe's `unit_amount`
 * @param currency a three-letter ISO code, any case
 * @param locale the reader's locale (default: the runtime's)
 * @returns the formatted amount, or the plain number with the code when the currency is unknown
 */
export function formatMoney(amount: ExactJson, currency: string, locale?: string): string {
  const text = amount instanceof JsonNumber ? amount.text : String(amount);
  if (!/^-?\d+$/.test(text)) return `${text} ${currency.toUpperCase()}`;
  let nf: Intl.NumberFormat;
  try {
    nf = new Intl.NumberFormat(locale, { style: "currency", currency: currency.toUpperCase() });
  } catch {
    return `${text} ${currency.toUpperCase()}`;
  }
  const digits = nf.resolvedOptions().maximumFractionDigits ?? 2;
  const negative = text.startsWith("-");
  const units = (negative ? text.slice(1) : text).padStart(digits + 1, "0");
  const decimal = digits === 0
    ? units
    : `${units.slice(0, units.length - digits)}.${units.slice(units.length - digits)}`;
  // A decimal string is formatted exactly (Intl.NumberFormat v3), beyond 2^53 too.
  return nf.format(`${negative ? "-" : ""}${decimal}` as unknown as number);
}

/** A value as one line or a pretty block; money where the row names its currency. */
function show(name: string, value: ExactJson | undefined, row: ExactObject | null): string | null {
  if (value === undefined) return null;
  const currency = row?.currency;
  if (/(^|_)amount$/.test(name) && typeof currency === "string" && value !== null) {
    return formatMoney(value, currency);
  }
  if (typeof value === "string") return value;
  return prettyJson(value);
}

/**
 * The fields of a change worth reading: for an update, those that differ; for a create,
 * those set; for a delete, those it had. A secret's value is never present in a plan; its
 * fingerprint is shown and marked.
 */
export function fieldDiffs(change: ShownChange): FieldDiff[] {
  const names = [
    ...new Set([...Object.keys(change.before ?? {}), ...Object.keys(change.after ?? {})]),
  ].filter((n) => !FOLDED.has(n));
  const secret = change.after?.is_secret === true || change.before?.is_secret === true;
  const out: FieldDiff[] = [];
  for (const name of names) {
    const before = change.before ? show(name, change.before[name], change.before) : null;
    const after = change.after ? show(name, change.after[name], change.after) : null;
    if (change.before && change.after && before === after) continue;
    if (before === "null" && after === null || before === null && after === "null") continue;
    out.push({ name, before, after, secret: secret && /fingerprint/.test(name) });
  }
  // A money field's currency change would otherwise be hidden by the fold.
  const cb = change.before?.currency, ca = change.after?.currency;
  if (change.before && change.after && cb !== ca) {
    out.push({
      name: "currency",
      before: String(cb ?? ""),
      after: String(ca ?? ""),
      secret: false,
    });
  }
  return out;
}

/**
 * Groups a plan's changes by kind, keeping the plan's order (kinds in apply order).
 *
 * @example
 * ```ts
 * groupByKind(plan.changes).map(([kind, changes]) => `${kind}: ${changes.length}`);
 * ```
 */
export function groupByKind<C extends { kind: string }>(changes: C[]): [string, C[]][] {
  const groups = new Map<string, C[]>();
  for (const c of changes) {
    const list = groups.get(c.kind) ?? [];
    list.push(c);
    groups.set(c.kind, list);
  }
  return [...groups];
}

/** A time as the reader's locale shows it, in UTC (the same on every screen). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}
