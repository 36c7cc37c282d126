/**
 * Webhook endpoints (their signing secret is returned only by the create call, as Stripe
 * does) and events (retrieve, and list newest first with `type`, `types[]` and `created`
 * filters).
 *
 * @module
 */
import { z } from "zod";
import { type Answer, type Ctx, expand, type Handler, retrieveHandler } from "./context.ts";
import { StripeApiError } from "./errors.ts";
import { API_VERSION, apiList, deletedObject, webhookEndpointObject } from "./objects.ts";
import {
  boolParam,
  expandParam,
  intParam,
  listParams,
  mergeMetadata,
  metadataParam,
  nullableStr,
  parseParams,
  strParam,
} from "./params.ts";
import { getLive, ID_PREFIX, newId, paginate, putObject, type StoredObject } from "./store.ts";

const eventsParam = z.array(z.string().regex(/^(\*|[a-z_]+(\.[a-z_]+)+)$/, "Invalid event type"))
  .min(1);
const EndpointCreate = z.strictObject({
  url: z.url(),
  enabled_events: eventsParam,
  description: nullableStr.optional(),
  metadata: metadataParam.optional(),
  api_version: z.string().optional(),
  expand: expandParam.optional(),
});
const EndpointUpdate = z.strictObject({
  url: z.url().optional(),
  enabled_events: eventsParam.optional(),
  description: nullableStr.optional(),
  metadata: metadataParam.optional(),
  disabled: boolParam.optional(),
  expand: expandParam.optional(),
});
const rangeParam = z.union([
  intParam,
  z.strictObject({
    gt: intParam.optional(),
    gte: intParam.optional(),
    lt: intParam.optional(),
    lte: intParam.optional(),
  }),
]);
const EventList = z.strictObject({
  ...listParams,
  type: strParam.optional(),
  types: z.array(strParam).max(20).optional(),
  created: rangeParam.optional(),
  delivery_success: boolParam.optional(),
});

/** A new signing secret: `whsec_` + 32 random characters. */
export function newWebhookSecret(): string {
  return newId("whsec", 32);
}

/** `POST /v1/webhook_endpoints`: the only answer that carries the `secret`. */
export function createWebhookEndpoint(ctx: Ctx): Answer {
  const p = parseParams(EndpointCreate, ctx.params);
  const secret = newWebhookSecret();
  const endpoint = webhookEndpointObject({
    id: newId(ID_PREFIX.webhook_endpoint, 24),
    created: ctx.now(),
    url: p.url,
    enabled_events: p.enabled_events,
    description: p.description ?? null,
    metadata: mergeMetadata({}, p.metadata),
    status: "enabled",
    api_version: p.api_version ?? API_VERSION,
  }) as unknown as StoredObject;
  putObject(ctx.account, "webhook_endpoint", endpoint);
  ctx.account.endpointSecrets.set(endpoint.id, secret);
  return { body: expand(ctx.account, { ...endpoint, secret }, p.expand) };
}

/** `GET /v1/webhook_endpoints/:id` (without the secret). */
export const retrieveWebhookEndpoint: Handler = retrieveHandler("webhook_endpoint");

/** `POST /v1/webhook_endpoints/:id` */
export function updateWebhookEndpoint(ctx: Ctx): Answer {
  const p = parseParams(EndpointUpdate, ctx.params);
  const before = getLive(ctx.account, { kind: "webhook_endpoint", id: ctx.path.id });
  const after = { ...before } as StoredObject;
  if (p.url !== undefined) after.url = p.url;
  if (p.enabled_events !== undefined) after.enabled_events = p.enabled_events;
  if (p.description !== undefined) after.description = p.description;
  if (p.metadata !== undefined) {
    after.metadata = mergeMetadata(before.metadata as never, p.metadata);
  }
  if (p.disabled !== undefined) after.status = p.disabled ? "disabled" : "enabled";
  putObject(ctx.account, "webhook_endpoint", after);
  return { body: expand(ctx.account, after, p.expand) };
}

/** `DELETE /v1/webhook_endpoints/:id` */
export function deleteWebhookEndpoint(ctx: Ctx): Answer {
  parseParams(z.strictObject({}), ctx.params);
  const endpoint = getLive(ctx.account, { kind: "webhook_endpoint", id: ctx.path.id });
  const stub = deletedObject("webhook_endpoint", endpoint.id) as unknown as StoredObject;
  putObject(ctx.account, "webhook_endpoint", stub);
  ctx.account.endpointSecrets.delete(endpoint.id);
  return { body: stub };
}

/** `GET /v1/webhook_endpoints` */
export function listWebhookEndpoints(ctx: Ctx): Answer {
  const p = parseParams(z.strictObject(listParams), ctx.params);
  const items = [...ctx.account.objects.webhook_endpoint.values()].filter((e) =>
    e.deleted !== true
  );
  const page = paginate(items, p);
  return {
    body: expand(ctx.account, apiList(page.data, "/v1/webhook_endpoints", page.has_more), p.expand),
  };
}

/** `GET /v1/events/:id` */
export const retrieveEvent: Handler = retrieveHandler("event");

/** `GET /v1/events` */
export function listEvents(ctx: Ctx): Answer {
  const p = parseParams(EventList, ctx.params);
  if (p.type && p.types) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      "You may only specify one of these parameters: type, types.",
      { param: "types" },
    );
  }
  const matchType = (t: string) => {
    if (p.type) {
      return p.type.endsWith(".*") ? t.startsWith(p.type.slice(0, -1)) : t === p.type;
    }
    return !p.types || p.types.includes(t);
  };
  const range = typeof p.created === "number" ? { gte: p.created, lte: p.created } : p.created;
  const items = [...ctx.account.objects.event.values()].filter((e) => {
    const created = e.created as number;
    if (!matchType(e.type as string)) return false;
    if (range?.gt !== undefined && !(created > range.gt)) return false;
    if (range?.gte !== undefined && !(created >= range.gte)) return false;
    if (range?.lt !== undefined && !(created < range.lt)) return false;
    if (range?.lte !== undefined && !(created <= range.lte)) return false;
    if (p.delivery_success !== undefined) {
      if (((e.pending_webhooks as number) === 0) !== p.delivery_success) return false;
    }
    return true;
  });
  const page = paginate(items, p);
  return { body: expand(ctx.account, apiList(page.data, "/v1/events", page.has_more), p.expand) };
}
