/**
 * Stripe's request encoding: `application/x-www-form-urlencoded` bodies (and query strings)
 * whose keys nest with brackets — `metadata[plan]=pro`, `items[0][price]=price_1`,
 * `expand[]=customer` — decoded into plain objects and arrays, as Stripe's API reads them.
 *
 * @module
 */

/** A decoded parameter value: a string leaf, a list or a nested object. */
export type FormValue = string | FormValue[] | FormObject;
/** Decoded parameters. */
export interface FormObject {
  [key: string]: FormValue;
}

/** A malformed key, e.g. `a[b` or `a]`. */
export class FormDecodeError extends Error {
  /** The offending key as sent. */
  readonly param: string;
  constructor(param: string, message: string) {
    super(message);
    this.name = "FormDecodeError";
    this.param = param;
  }
}

/**
 * Splits a bracketed key into its path: `items[0][price]` → `["items", "0", "price"]`,
 * `expand[]` → `["expand", ""]`.
 *
 * @throws {FormDecodeError} when brackets do not pair up
 */
export function splitKey(key: string): string[] {
  const open = key.indexOf("[");
  if (open === -1) {
    if (key.includes("]")) throw new FormDecodeError(key, `Invalid parameter name: ${key}`);
    return [key];
  }
  const path = [key.slice(0, open)];
  let rest = key.slice(open);
  while (rest.length) {
    const match = /^\[([^[\]]*)\]/.exec(rest);
    if (!match) throw new FormDecodeError(key, `Invalid parameter name: ${key}`);
    path.push(match[1]);
    rest = rest.slice(match[0].length);
  }
  if (path[0] === "") throw new FormDecodeError(key, `Invalid parameter name: ${key}`);
  return path;
}

function isIndex(segment: string): boolean {
  return segment === "" || /^\d+$/.test(segment);
}

/**
 * Decodes URL-encoded pairs into nested parameters. Numeric and empty segments make lists
 * (indexes order the list, gaps close up); other segments make objects.
 *
 * @param pairs the decoded key/value pairs, in order (e.g. `new URLSearchParams(body)`)
 * @returns the nested parameters
 * @throws {FormDecodeError} for malformed keys or a key used both as a leaf and a parent
 * @example
 * ```ts
 * decodeForm(new URLSearchParams("items[0][price]=price_1&metadata[a]=b&expand[]=customer"));
 * // { items: [{ price: "price_1" }], metadata: { a: "b" }, expand: ["customer"] }
 * ```
 */
export function decodeForm(pairs: Iterable<[string, string]>): FormObject {
  // Build with index-keyed objects first, then turn index-only objects into arrays.
  type Tree = { [key: string]: Tree | string };
  const root: Tree = {};
  const listMarks = new WeakSet<Tree>();
  const appendCounters = new WeakMap<Tree, number>();
  for (const [key, value] of pairs) {
    const path = splitKey(key);
    let node = root;
    for (let i = 0; i < path.length; i++) {
      let segment = path[i];
      const last = i === path.length - 1;
      if (i > 0 && isIndex(segment)) {
        listMarks.add(node);
        if (segment === "") {
          const next = appendCounters.get(node) ?? Object.keys(node).length;
          appendCounters.set(node, next + 1);
          segment = String(next).padStart(10, "0");
        } else segment = segment.padStart(10, "0");
      }
      if (last) {
        if (typeof node[segment] === "object") {
          throw new FormDecodeError(key, `Invalid parameter: ${key} is also used as a hash`);
        }
        node[segment] = value;
      } else {
        const child = node[segment];
        if (typeof child === "string") {
          // `metadata=` followed by `metadata[a]=b`: Stripe treats the empty string as "unset".
          if (child !== "") {
            throw new FormDecodeError(key, `Invalid parameter: ${key} is also used as a string`);
          }
          node[segment] = {};
        } else if (child === undefined) node[segment] = {};
        node = node[segment] as Tree;
      }
    }
  }
  function finish(tree: Tree): FormObject | FormValue[] {
    if (listMarks.has(tree)) {
      return Object.keys(tree).sort().map((k) => {
        const v = tree[k];
        return typeof v === "string" ? v : finish(v);
      });
    }
    const out: FormObject = {};
    for (const [k, v] of Object.entries(tree)) out[k] = typeof v === "string" ? v : finish(v);
    return out;
  }
  return finish(root) as FormObject;
}

/**
 * Encodes nested parameters the way the `stripe` SDK does (`a[b][0]=c`), for the emulator's
 * own tests and fixtures.
 *
 * @example
 * ```ts
 * encodeForm({ metadata: { a: "b" }, expand: ["customer"] }); // "metadata[a]=b&expand[0]=customer"
 * ```
 */
export function encodeForm(params: Record<string, unknown>): string {
  const parts: string[] = [];
  function walk(prefix: string, value: unknown): void {
    if (value === undefined) return;
    if (Array.isArray(value)) value.forEach((v, i) => walk(`${prefix}[${i}]`, v));
    else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}[${k}]` : k, v);
    } else {
      parts.push(
        `${encodeURIComponent(prefix).replace(/%5B/g, "[").replace(/%5D/g, "]")}=${
          encodeURIComponent(value === null ? "" : String(value))
        }`,
      );
    }
  }
  walk("", params);
  return parts.join("&");
}
