/**
 * The notification events Stagecoach sends and the generic JSON payload of each, as written
 * to `ops.notification_outbox` by the promotions trigger (migration
 * `notify_promotion_transitions`) and sent as the body of generic webhooks.
 *
 * The shape follows the Standard Webhooks recommendation: `{ type, timestamp, data }`. It
 * carries no secrets and no links.
 *
 * @module
 */
import { z } from "zod";

/** Every event type an endpoint may subscribe to: one per status a promotion can reach. */
export const PROMOTION_EVENT_TYPES = [
  "promotion.awaiting_approval",
  "promotion.approved",
  "promotion.rejected",
  "promotion.expired",
  "promotion.applying",
  "promotion.succeeded",
  "promotion.failed",
  "promotion.rolled_back",
] as const;

/** Changes to the people and policy behind approvals, and break-glass writes. */
export const SECURITY_EVENT_TYPES = [
  "security.member_changed",
  "security.policy_changed",
  "security.break_glass",
] as const;

/** Outcomes of a release (`stagecoach release`) a person should know of. */
export const RELEASE_EVENT_TYPES = [
  "release.waiting_approval",
  "release.succeeded",
  "release.failed",
  "release.rolled_back",
] as const;

/** A flag rollout starting, halted by a breach (paused or back to 0 %), completed or aborted. */
export const ROLLOUT_EVENT_TYPES = [
  "rollout.started",
  "rollout.paused",
  "rollout.rolled_back",
  "rollout.completed",
  "rollout.aborted",
] as const;

/** Every event type an endpoint may subscribe to (as `ops.notification_event_types()`). */
export const EVENT_TYPES = [
  ...PROMOTION_EVENT_TYPES,
  ...SECURITY_EVENT_TYPES,
  ...RELEASE_EVENT_TYPES,
  ...ROLLOUT_EVENT_TYPES,
] as const;

/** One of {@link EVENT_TYPES}. */
export type EventType = typeof EVENT_TYPES[number];

/** What an endpoint subscribes to: `*` (everything) or some event types. */
export const EventFilterSchema = z.array(z.enum(["*", ...EVENT_TYPES])).min(1);

/** The promotion facts a notification carries. */
export const PromotionEventDataSchema = z.looseObject({
  promotion_id: z.uuid(),
  environment: z.string(),
  source_env: z.string(),
  target_env: z.string(),
  scope: z.array(z.string()),
  risk: z.enum(["low", "high"]),
  change_count: z.number().int(),
  required_approvals: z.number().int(),
  approvals: z.number().int(),
  status: z.string(),
  previous_status: z.string(),
  plan_hash: z.string(),
  actor: z.object({ id: z.uuid(), email: z.string().nullable() }).nullable(),
  failure: z.unknown().optional(),
  /** The commit of the release carrying the promotion (approved only; see releases). */
  git_sha: z.string().optional(),
});

/** The facts of a security notification: what changed, who did it, before and after. */
export const SecurityEventDataSchema = z.looseObject({
  environment: z.string(),
  action: z.string(),
  subject: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  actor: z.object({ id: z.uuid(), email: z.string().nullable() }).nullable(),
});

/** The facts of a release notification (migration `create_ops_releases`). */
export const ReleaseEventDataSchema = z.looseObject({
  release_id: z.uuid(),
  environment: z.string(),
  source_env: z.string(),
  git_sha: z.string(),
  status: z.string(),
  started_by: z.string(),
  promotion_id: z.uuid().nullable(),
  steps: z.array(
    z.object({ name: z.string(), status: z.string(), summary: z.string().nullable() }),
  ),
  /** The watch after apply (settings, outcome, the samples that breached). */
  watch: z.record(z.string(), z.unknown()).optional(),
  /** What a rollback did, or why only a restore undoes it (`restore_command`). */
  rollback: z.record(z.string(), z.unknown()).optional(),
});

/** The facts of a rollout notification (migration `create_flag_rollouts`). */
export const RolloutEventDataSchema = z.looseObject({
  rollout_id: z.uuid(),
  environment: z.string(),
  flag_key: z.string(),
  status: z.string(),
  percent: z.number().int(),
  stages: z.array(z.number().int()),
  stage_index: z.number().int(),
  on_breach: z.string(),
  started_by: z.string(),
  promotion_id: z.uuid().nullable(),
  /** Why it stopped: `{ by, breached: [{ seq, percent, unhealthy }], action, at, percent }`. */
  halted: z.record(z.string(), z.unknown()).optional(),
});

/** The generic payload of one notification (`ops.notification_outbox.payload`). */
export const NotificationPayloadSchema = z.union([
  z.object({
    type: z.enum(PROMOTION_EVENT_TYPES),
    timestamp: z.string(),
    data: PromotionEventDataSchema,
  }),
  z.object({
    type: z.enum(SECURITY_EVENT_TYPES),
    timestamp: z.string(),
    data: SecurityEventDataSchema,
  }),
  z.object({
    type: z.enum(RELEASE_EVENT_TYPES),
    timestamp: z.string(),
    data: ReleaseEventDataSchema,
  }),
  z.object({
    type: z.enum(ROLLOUT_EVENT_TYPES),
    timestamp: z.string(),
    data: RolloutEventDataSchema,
  }),
]);

/** The payload of a promotion transition. */
export type PromotionNotification = Extract<NotificationPayload, { type: `promotion.${string}` }>;
/** The payload of a security event. */
export type SecurityNotification = Extract<NotificationPayload, { type: `security.${string}` }>;

/** The payload of a release outcome. */
export type ReleaseNotification = Extract<NotificationPayload, { type: `release.${string}` }>;

/** The payload of a rollout event. */
export type RolloutNotification = Extract<NotificationPayload, { type: `rollout.${string}` }>;

/** A notification payload. */
export type NotificationPayload = z.infer<typeof NotificationPayloadSchema>;

/**
 * Serialises a payload as the exact bytes a generic webhook receives (and that are signed):
 * minified JSON with the keys `type`, `timestamp`, `data` in that order.
 *
 * @param payload the outbox payload
 * @returns the request body
 * @example
 * ```ts
 * webhookBody(payload); // '{"type":"promotion.approved","timestamp":"…","data":{…}}'
 * ```
 */
export function webhookBody(payload: NotificationPayload): string {
  return JSON.stringify({ type: payload.type, timestamp: payload.timestamp, data: payload.data });
}

/**
 * Parses a comma-separated event list as the CLI takes it (`promotion.approved,promotion.failed`
 * or `*`); the `promotion.` prefix may be left out.
 *
 * @param text the list
 * @returns the event filter
 * @throws {Error} naming every unknown event
 * @example
 * ```ts
 * parseEventList("approved, promotion.failed"); // ["promotion.approved", "promotion.failed"]
 * ```
 */
export function parseEventList(text: string): z.infer<typeof EventFilterSchema> {
  const names = text.split(",").map((s) => s.trim()).filter((s) => s !== "")
    .map((s) => s === "*" || s.includes(".") ? s : `promotion.${s}`);
  const unknown = names.filter((n) => n !== "*" && !(EVENT_TYPES as readonly string[]).includes(n));
  if (!names.length || unknown.length) {
    throw new Error(
      `Cannot read the event list: ${
        names.length ? `unknown ${unknown.join(", ")}` : "it is empty"
      } (expected * or some of ${EVENT_TYPES.join(", ")})`,
    );
  }
  return [...new Set(names)] as z.infer<typeof EventFilterSchema>;
}
