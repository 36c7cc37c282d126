/**
 * What every resource handler of the emulator is given: the caller's account, the decoded
 * parameters, the clock, and `emit`, which records an event and hands it to delivery.
 * Also `expand[]`, which replaces ids by their objects as Stripe does.
 *
 * @module
 */
import { StripeApiError } from "./errors.ts";
import type { FormObject } from "./form.ts";
import { eventObject } from "./objects.ts";
import { z } from "zod";
import { expandParam, parseParams } from "./params.ts";
import {
  type Account,
  getObject,
  ID_PREFIX,
  type Kind,
  newId,
  putObject,
  type StoredObject,
} from "./store.ts";
import type Stripe from "stripe";

/** The request a handler serves. */
export interface Ctx {
  account: Account;
  /** Decoded body (POST) or query (GET, DELETE) parameters. */
  params: FormObject;
  /** Path parameters, e.g. `{ id: "prod_1" }`. */
  path: Record<string, string>;
  /** Unix seconds. */
  now(): number;
  requestId: string;
  idempotencyKey: string | null;
  /** Records an event about `object` and queues its deliveries. */
  emit(type: Stripe.Event.Type, object: StoredObject, previous?: Record<string, unknown>): void;
}

/** What a handler answers: a JSON body and, rarely, a status other than 200. */
export interface Answer {
  status?: number;
  body: unknown;
}

/** A resource handler. */
export type Handler = (ctx: Ctx) => Answer | Promise<Answer>;

/**
 * Creates an event, stores it and returns it; `deliver` decides how many endpoints will get
 * it (its `pending_webhooks`).
 */
export function recordEvent(
  account: Account,
  opts: {
    type: Stripe.Event.Type;
    object: StoredObject;
    previous?: Record<string, unknown>;
    created: number;
    request: { id: string | null; idempotency_key: string | null } | null;
    deliver: (event: StoredObject) => number;
  },
): StoredObject {
  const event = eventObject({
    id: newId(ID_PREFIX.event, 24),
    created: opts.created,
    type: opts.type,
    object: structuredClone(opts.object),
    previous_attributes: opts.previous,
    pending_webhooks: 0,
    request: opts.request,
  }) as unknown as StoredObject;
  putObject(account, "event", event);
  event.pending_webhooks = opts.deliver(event);
  return event;
}

/** The top-level fields that differ, with their old values (an event's previous_attributes). */
export function previousAttributes(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out[key] = before[key] ?? null;
  }
  return out;
}

const KIND_BY_PREFIX: [string, Kind][] = (Object.entries(ID_PREFIX) as [Kind, string][])
  .filter(([k]) => (k as string) !== "subscription_item")
  .sort((a, b) => b[1].length - a[1].length)
  .map(([k, p]) => [`${p}_`, k]);

function kindOf(id: string): Kind | null {
  return KIND_BY_PREFIX.find(([prefix]) => id.startsWith(prefix))?.[1] ?? null;
}

function expandOne(account: Account, value: unknown, segments: string[], full: string): unknown {
  if (!segments.length) return value;
  if (Array.isArray(value)) return value.map((v) => expandOne(account, v, segments, full));
  if (value === null || typeof value !== "object") return value;
  const [head, ...rest] = segments;
  const obj = value as Record<string, unknown>;
  if (!(head in obj)) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `This property cannot be expanded (${full}).`,
      { code: "parameter_invalid", param: "expand" },
    );
  }
  let child = obj[head];
  if (typeof child === "string") {
    const kind = kindOf(child);
    const found = kind ? account.objects[kind].get(child) : undefined;
    if (!found) {
      throw new StripeApiError(
        400,
        "invalid_request_error",
        `This property cannot be expanded (${full}).`,
        { code: "parameter_invalid", param: "expand" },
      );
    }
    child = structuredClone(found);
  }
  return { ...obj, [head]: expandOne(account, child, rest, full) };
}

/**
 * Applies `expand[]` paths (`customer`, `items.data.price.product`, and for lists
 * `data.product`) to an answer.
 *
 * @throws {StripeApiError} 400 when a path does not name an expandable id
 */
export function expand(account: Account, body: unknown, paths: string[] | undefined): unknown {
  let out = body;
  for (const path of paths ?? []) out = expandOne(account, out, path.split("."), path);
  return out;
}

/**
 * `GET /v1/<kind>/:id` for any kind: the stored object (deleted stubs included), expanded.
 *
 * @example
 * ```ts
 * const retrieveProduct = retrieveHandler("product");
 * ```
 */
export function retrieveHandler(kind: Kind): Handler {
  const schema = z.strictObject({ expand: expandParam.optional() });
  return (ctx) => {
    const p = parseParams(schema, ctx.params);
    return {
      body: expand(ctx.account, getObject(ctx.account, { kind, id: ctx.path.id }), p.expand),
    };
  };
}
