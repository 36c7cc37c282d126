import assert from "node:assert/strict";
import { SAMPLE } from "./fixtures_test.ts";
import { EVENT_TYPES, NotificationPayloadSchema, parseEventList, webhookBody } from "./payload.ts";

Deno.test("webhookBody is minified JSON with type, timestamp, data first-level order", () => {
  const body = webhookBody(SAMPLE);
  assert.match(
    body,
    /^\{"type":"promotion\.approved","timestamp":"2026-11-25T10:00:00\.123456Z","data":\{/,
  );
  assert.doesNotMatch(body, /\s"|":\s/);
  assert.deepEqual(JSON.parse(body), SAMPLE);
});

Deno.test("NotificationPayloadSchema refuses an unknown event type or a missing promotion id", () => {
  assert.equal(
    NotificationPayloadSchema.safeParse({ ...SAMPLE, type: "promotion.planned" }).success,
    false,
  );
  const { promotion_id: _, ...data } = SAMPLE.data;
  assert.equal(NotificationPayloadSchema.safeParse({ ...SAMPLE, data }).success, false);
});

Deno.test("parseEventList accepts *, full names and short names, and names unknown events", () => {
  assert.deepEqual(parseEventList("*"), ["*"]);
  assert.deepEqual(parseEventList("approved, promotion.failed,approved"), [
    "promotion.approved",
    "promotion.failed",
  ]);
  assert.equal(EVENT_TYPES.length, 20);
  assert.throws(
    () => parseEventList("approved,planned,bogus.x"),
    /unknown promotion\.planned, bogus\.x/,
  );
  assert.throws(() => parseEventList(" , "), /it is empty/);
});
