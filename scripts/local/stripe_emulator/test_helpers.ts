/**
 * The emulator's own test helpers, under `/v1/test_helpers/emulator/…` and reached through
 * the SDK's `stripe.rawRequest(...)`: what a real test account does with time and cards,
 * and the delivery controls tests need.
 *
 * - `POST checkout/sessions/:id/complete`: pay an open checkout session.
 * - `POST subscriptions/:id/advance`: start the next period (bills it; ends a subscription
 *   set to cancel at period end).
 * - `POST customers/:id/payments` `decline=true|false`: decline (or accept) the customer's
 *   payments from now on.
 * - `GET|POST delivery` `mode=immediate|hold|drop`: how events reach webhook endpoints.
 * - `POST delivery/release` `order=in_order|reversed|shuffled`, `repeat`, `concurrency`,
 *   `seed`: deliver the held events (waits for each first attempt).
 * - `POST delivery/discard`: forget the held events (lost deliveries).
 * - `POST delivery/settle` `timeout_ms`: wait until no delivery is in flight or due a retry.
 * - `POST rate_limit` `next=<n>`: answer the next n API requests with 429.
 *
 * @module
 */
import { z } from "zod";
import type { Answer, Ctx } from "./context.ts";
import { advancePeriod, completeCheckoutSession } from "./billing.ts";
import type { Deliverer } from "./delivery.ts";
import { boolParam, intParam, parseParams } from "./params.ts";
import { getLive } from "./store.ts";

/** `POST /v1/test_helpers/emulator/checkout/sessions/:id/complete` */
export function completeCheckout(ctx: Ctx): Answer {
  parseParams(z.strictObject({}), ctx.params);
  return { body: completeCheckoutSession(ctx, ctx.path.id) };
}

/** `POST /v1/test_helpers/emulator/subscriptions/:id/advance` */
export function advanceSubscription(ctx: Ctx): Answer {
  parseParams(z.strictObject({}), ctx.params);
  return { body: advancePeriod(ctx, ctx.path.id) };
}

/** `POST /v1/test_helpers/emulator/customers/:id/payments` */
export function setCustomerPayments(ctx: Ctx): Answer {
  const p = parseParams(z.strictObject({ decline: boolParam }), ctx.params);
  const customer = getLive(ctx.account, { kind: "customer", id: ctx.path.id });
  if (p.decline) ctx.account.decliningCustomers.add(ctx.path.id);
  else ctx.account.decliningCustomers.delete(ctx.path.id);
  return { body: customer };
}

function deliveryBody(ctx: Ctx, deliverer: Deliverer) {
  return { object: "emulator.delivery", ...deliverer.status(ctx.account) };
}

/** `GET|POST /v1/test_helpers/emulator/delivery` */
export function deliveryMode(deliverer: Deliverer) {
  return (ctx: Ctx): Answer => {
    const p = parseParams(
      z.strictObject({ mode: z.enum(["immediate", "hold", "drop"]).optional() }),
      ctx.params,
    );
    if (p.mode) ctx.account.deliveryMode = p.mode;
    return { body: deliveryBody(ctx, deliverer) };
  };
}

/** `POST /v1/test_helpers/emulator/delivery/release` */
export function releaseDeliveries(deliverer: Deliverer) {
  return async (ctx: Ctx): Promise<Answer> => {
    const p = parseParams(
      z.strictObject({
        order: z.enum(["in_order", "reversed", "shuffled"]).optional(),
        repeat: intParam.pipe(z.number().int().min(1).max(5)).optional(),
        concurrency: intParam.pipe(z.number().int().min(1).max(64)).optional(),
        seed: intParam.optional(),
        mode: z.enum(["immediate", "hold", "drop"]).optional(),
      }),
      ctx.params,
    );
    if (p.mode) ctx.account.deliveryMode = p.mode;
    const result = await deliverer.release(ctx.account, {
      order: p.order ?? "in_order",
      repeat: p.repeat ?? 1,
      concurrency: p.concurrency ?? 1,
      seed: p.seed ?? 1,
    });
    return { body: { ...deliveryBody(ctx, deliverer), ...result } };
  };
}

/** `POST /v1/test_helpers/emulator/delivery/discard` */
export function discardDeliveries(deliverer: Deliverer) {
  return (ctx: Ctx): Answer => {
    parseParams(z.strictObject({}), ctx.params);
    const discarded = deliverer.discardHeld(ctx.account);
    return { body: { ...deliveryBody(ctx, deliverer), discarded } };
  };
}

/** `POST /v1/test_helpers/emulator/delivery/settle` */
export function settleDeliveries(deliverer: Deliverer) {
  return async (ctx: Ctx): Promise<Answer> => {
    const p = parseParams(
      z.strictObject({
        timeout_ms: intParam.pipe(z.number().int().min(1).max(120_000)).optional(),
      }),
      ctx.params,
    );
    await deliverer.settle(ctx.account, p.timeout_ms ?? 30_000);
    return { body: deliveryBody(ctx, deliverer) };
  };
}

/** `POST /v1/test_helpers/emulator/rate_limit` */
export function forceRateLimit(ctx: Ctx): Answer {
  const p = parseParams(
    z.strictObject({ next: intParam.pipe(z.number().int().min(0).max(1000)) }),
    ctx.params,
  );
  ctx.account.forcedRateLimits = p.next;
  return { body: { object: "emulator.rate_limit", next: p.next } };
}
