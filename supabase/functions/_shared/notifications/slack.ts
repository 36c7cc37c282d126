/**
 * The Slack-compatible message of a notification: `text` (the fallback shown in
 * notifications and by Slack-compatible receivers that ignore blocks) plus Block Kit `blocks`.
 * No links: everything a reader needs is in the message.
 *
 * @module
 */
import type {
  NotificationPayload,
  PromotionNotification as PromotionPayload,
  ReleaseNotification as ReleasePayload,
  RolloutNotification as RolloutPayload,
  SecurityNotification as SecurityPayload,
} from "./payload.ts";

/** A Slack incoming-webhook body. */
export interface SlackMessage {
  text: string;
  blocks: Record<string, unknown>[];
}

const HEADLINES: Record<string, string> = {
  "promotion.awaiting_approval": "Promotion awaiting approval",
  "promotion.approved": "Promotion approved",
  "promotion.rejected": "Promotion rejected",
  "promotion.expired": "Promotion expired",
  "promotion.applying": "Promotion applying",
  "promotion.succeeded": "Promotion succeeded",
  "promotion.failed": "Promotion failed",
  "promotion.rolled_back": "Promotion rolled back",
  "security.member_changed": "Ops team changed",
  "security.policy_changed": "Approval policy changed",
  "security.break_glass": "Approval gate bypassed (break glass)",
  "release.waiting_approval": "Release waiting for approval",
  "release.succeeded": "Release succeeded",
  "release.failed": "Release failed",
  "release.rolled_back": "Release rolled back by its watch",
  "rollout.started": "Rollout started",
  "rollout.paused": "Rollout paused",
  "rollout.rolled_back": "Rollout returned to 0 %",
  "rollout.completed": "Rollout completed",
  "rollout.aborted": "Rollout aborted",
};

/** Most characters of the failure shown in a message (Slack caps a text object at 3000). */
const FAILURE_CHARS = 1500;

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function who(payload: { data: { actor: { id: string; email: string | null } | null } }): string {
  const actor = payload.data.actor;
  return actor ? (actor.email ?? actor.id) : "the system";
}

/**
 * Builds the Slack message of a notification.
 *
 * @param payload the outbox payload
 * @returns `{ text, blocks }`: headline, promotion id, source → target, risk, status, who
 * @example
 * ```ts
 * slackMessage(payload).text;
 * // "Promotion approved: staging → production (promotion 5f0c…, risk high, 3 changes) by ana@example.com"
 * ```
 */
export function slackMessage(payload: NotificationPayload): SlackMessage {
  if (payload.type.startsWith("security.")) {
    return securityMessage(payload as SecurityPayload);
  }
  if (payload.type.startsWith("release.")) return releaseMessage(payload as ReleasePayload);
  if (payload.type.startsWith("rollout.")) return rolloutMessage(payload as RolloutPayload);
  payload = payload as PromotionPayload;
  const d = payload.data;
  const headline = HEADLINES[payload.type] ?? payload.type;
  const route = `${d.source_env} → ${d.target_env}`;
  const changes = `${d.change_count} change${d.change_count === 1 ? "" : "s"}`;
  const text = escapeMrkdwn(
    `${headline}: ${route} (promotion ${d.promotion_id}, risk ${d.risk}, ${changes}) ` +
      `by ${who(payload)}`,
  );
  const field = (label: string, value: string) => ({
    type: "mrkdwn",
    text: `*${label}*\n${escapeMrkdwn(value)}`,
  });
  const blocks: Record<string, unknown>[] = [
    { type: "header", text: { type: "plain_text", text: `${headline}: ${route}`, emoji: false } },
    {
      type: "section",
      fields: [
        field("Promotion", d.promotion_id),
        field("Route", route),
        field("Risk", d.risk),
        field("Status", `${d.previous_status} → ${d.status}`),
        field("By", who(payload)),
        field("Changes", `${changes} (${d.scope.join(", ")})`),
        field("Approvals", `${d.approvals} of ${d.required_approvals}`),
      ],
    },
  ];
  if (d.failure !== undefined && d.failure !== null) {
    const json = JSON.stringify(d.failure);
    const shown = json.length > FAILURE_CHARS ? `${json.slice(0, FAILURE_CHARS)}…` : json;
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: `*Why it failed*\n\`\`\`${escapeMrkdwn(shown)}\`\`\`` },
    });
  }
  blocks.push({
    type: "context",
    elements: [{
      type: "mrkdwn",
      text: escapeMrkdwn(
        `${d.environment} · plan ${d.plan_hash.slice(0, 12)} · ${payload.timestamp}`,
      ),
    }],
  });
  return { text, blocks };
}

/** The message of a security event: what changed, by whom, before → after. */
function securityMessage(payload: SecurityPayload): SlackMessage {
  const d = payload.data;
  const headline = HEADLINES[payload.type] ?? payload.type;
  const text = escapeMrkdwn(
    `${headline} in ${d.environment}: ${d.action} ${d.subject ?? ""} by ${who(payload)}`.trim(),
  );
  const details = JSON.stringify(d.details);
  return {
    text,
    blocks: [
      { type: "header", text: { type: "plain_text", text: headline, emoji: false } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*What*\n${escapeMrkdwn(`${d.action} ${d.subject ?? ""}`)}` },
          { type: "mrkdwn", text: `*By*\n${escapeMrkdwn(who(payload))}` },
        ],
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: `*Details*\n\`\`\`${
            escapeMrkdwn(
              details.length > FAILURE_CHARS ? `${details.slice(0, FAILURE_CHARS)}…` : details,
            )
          }\`\`\``,
        },
      },
      {
        type: "context",
        elements: [{
          type: "mrkdwn",
          text: escapeMrkdwn(`${d.environment} · ${payload.timestamp}`),
        }],
      },
    ],
  };
}

/** The message of a release outcome: route, commit, starter and each step's status. */
function rolloutMessage(payload: RolloutPayload): SlackMessage {
  const d = payload.data;
  const headline = HEADLINES[payload.type] ?? payload.type;
  const halted = d.halted ? JSON.stringify(d.halted) : "";
  const text = escapeMrkdwn(
    `${headline}: ${d.flag_key} in ${d.environment} at ${d.percent} % (rollout ${d.rollout_id}, stages ${
      d.stages.join(",")
    }) by ${d.started_by}`,
  );
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text } },
      ...(halted
        ? [{
          type: "section",
          text: {
            type: "mrkdwn",
            text: `*Why*\n\`\`\`${
              escapeMrkdwn(
                halted.length > FAILURE_CHARS ? `${halted.slice(0, FAILURE_CHARS)}…` : halted,
              )
            }\`\`\``,
          },
        }]
        : []),
    ],
  };
}

function releaseMessage(payload: ReleasePayload): SlackMessage {
  const d = payload.data;
  const restore = d.rollback?.restore_command;
  const headline = HEADLINES[payload.type] ?? payload.type;
  const route = `${d.source_env} → ${d.environment}`;
  const commit = d.git_sha.slice(0, 12);
  const steps = d.steps.map((s) =>
    `${s.status.padEnd(9)} ${s.name}${s.summary ? `: ${s.summary}` : ""}`
  )
    .join("\n");
  return {
    text: escapeMrkdwn(
      `${headline}: ${route} at ${commit} (release ${d.release_id}) by ${d.started_by}`,
    ),
    blocks: [
      { type: "header", text: { type: "plain_text", text: `${headline}: ${route}`, emoji: false } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*Release*\n${escapeMrkdwn(d.release_id)}` },
          { type: "mrkdwn", text: `*Commit*\n${escapeMrkdwn(commit)}` },
          { type: "mrkdwn", text: `*By*\n${escapeMrkdwn(d.started_by)}` },
          { type: "mrkdwn", text: `*Promotion*\n${escapeMrkdwn(d.promotion_id ?? "none")}` },
        ],
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: `*Steps*\n\`\`\`${
            escapeMrkdwn(steps.length > FAILURE_CHARS ? `${steps.slice(0, FAILURE_CHARS)}…` : steps)
          }\`\`\``,
        },
      },
      ...(typeof restore === "string"
        ? [{
          type: "section",
          text: {
            type: "mrkdwn",
            text: `*Only a restore undoes the schema*\n\`${escapeMrkdwn(restore)}\``,
          },
        }]
        : []),
      {
        type: "context",
        elements: [{
          type: "mrkdwn",
          text: escapeMrkdwn(`${d.environment} · ${payload.timestamp}`),
        }],
      },
    ],
  };
}
