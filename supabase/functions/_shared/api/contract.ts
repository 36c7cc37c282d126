/**
 * The contract between the `ops` Edge Function and its clients (the CLI, the release engine,
 * tests): every route with its path, method, parameters, body and the answers it may give,
 * as zod schemas. The function validates requests with them (`route.ts`) and is typed to
 * answer only what they say; the CLI calls through a client typed by them and parses every
 * answer with them (`parseAnswer`), so neither side re-declares the other's types.
 *
 * Wire fields are snake_case. Answers travel as lossless JSON (`json/lossless.ts`): a client
 * reads numbers as {@link JsonNumber}s, so counts are {@link Count}s (a number or its exact
 * text, read as a number) and row values inside plans stay exact {@link JsonValue}s.
 *
 * @module
 */
import { z } from "zod";
import { JsonNumber, type JsonObject, type JsonValue } from "../json/lossless.ts";
import { DEFAULT_SCOPES, SCOPES } from "../promotion/kinds.ts";
import type { Action, Plan, PlanChange } from "../promotion/plan.ts";
import { PendingMigration } from "../promotion/schema.ts";
import { RestoreBackup } from "../promotion/restore_scope.ts";
import { RolloutPlanSchema } from "../promotion/rollout_scope.ts";
import { FlagKey, ROLLOUT_STATUSES } from "../rollouts/plan.ts";

// ── Building blocks ─────────────────────────────────────────────────────────────────────────

/**
 * A whole number on the wire: the server hands a number, a lossless client reads a
 * {@link JsonNumber}; both are read as a safe integer.
 */
export const Count = z.union([z.number(), z.instanceof(JsonNumber)]).transform((v, ctx) => {
  const n = typeof v === "number" ? v : Number(v.text);
  if (!Number.isSafeInteger(n)) {
    ctx.issues.push({ code: "custom", message: `expected a whole number, got ${v}`, input: v });
    return z.NEVER;
  }
  return n;
});

/** A number that is not a count (e.g. milliseconds), read as a JavaScript number. */
export const Num = z.union([z.number(), z.instanceof(JsonNumber)]).transform((v) =>
  typeof v === "number" ? v : Number(v.text)
);

/** A time: postgres.js hands the server a `Date`, the wire carries its ISO text. */
export const Timestamp = z.union([z.string(), z.date().transform((d) => d.toISOString())]);

/** Any JSON value, numbers exact (check details, failures, row values). */
export const AnyJson = z.custom<JsonValue>(() => true);

/** A JSON object, numbers exact (a row of a plan). */
export const JsonRow = z.custom<JsonObject>(
  (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  "expected a JSON object",
);

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, "expected the plan's SHA-256 (64 hex digits)");

/** A promotion scope. */
export const Scope = z.enum(SCOPES);

const ACTIONS = ["create", "update", "delete", "retire", "replace", "archive"] as const;

/** The one error shape of every answer that is not 2xx. */
export const ErrorAnswer = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), AnyJson).default({}),
  }),
});

// ── Plans and promotions ────────────────────────────────────────────────────────────────────

/** One change of a plan (`promotion/plan.ts`). */
export const PlanChangeSchema = z.object({
  kind: z.custom<PlanChange["kind"]>((v) => typeof v === "string", "expected a kind"),
  key: z.string(),
  action: z.enum(ACTIONS),
  risk: z.enum(["low", "high"]),
  reasons: z.array(z.string()),
  before: JsonRow.nullable(),
  after: JsonRow.nullable(),
});

/** A plan as the API carries it (`promotion/plan.ts` `Plan`). */
export const PlanSchema = z.object({
  format: z.literal("stagecoach.plan"),
  version: Count.pipe(z.literal(1)),
  source: z.string(),
  target: z.string(),
  scope: z.array(Scope),
  options: z.object({ include_flag_state: z.boolean() }),
  risk: z.enum(["none", "low", "high"]),
  summary: z.record(z.enum(ACTIONS), Count),
  changes: z.array(PlanChangeSchema),
  kept: z.array(z.object({
    kind: z.custom<PlanChange["kind"]>((v) => typeof v === "string", "expected a kind"),
    key: z.string(),
    reason: z.string(),
  })),
});

/** A promotion row without its plan (summaries: decisions, rollback). */
export const PromotionSchema = z.object({
  id: z.string(),
  source_env: z.string(),
  target_env: z.string(),
  scope: z.array(Scope),
  options: z.object({ include_flag_state: z.boolean() }),
  plan: PlanSchema.optional(),
  plan_hash: z.string(),
  risk: z.enum(["low", "high"]),
  change_count: Count,
  required_approvals: Count,
  status: z.string(),
  created_by: z.string().nullable(),
  created_at: Timestamp,
  expires_at: Timestamp.nullable(),
  applied_by: z.string().nullable(),
  applied_at: Timestamp.nullable(),
  finished_at: Timestamp.nullable(),
  rolled_back_at: Timestamp.nullable(),
  failure: AnyJson.nullable(),
});

/** A promotion as a client reads it. */
export type Promotion = z.output<typeof PromotionSchema>;

/** A promotion read with its plan (show, apply, a new promotion). */
export const PromotionWithPlan = PromotionSchema.extend({ plan: PlanSchema });

/** Whether the caller may take one action on a promotion now, and why not. */
export const PromotionActionSchema = z.object({
  allowed: z.boolean(),
  /** `role` (never with this role), `status`, `own`, `decided` or `expired`; null when allowed. */
  code: z.enum(["role", "status", "own", "decided", "expired"]).nullable(),
  reason: z.string().nullable(),
});

/** What the caller may do with a promotion now (`ops.promotion_actions`), as the guards rule. */
export const PromotionActionsSchema = z.object({
  decide: PromotionActionSchema,
  apply: PromotionActionSchema,
  rollback: PromotionActionSchema,
});

/** The outcome of one validation check. */
export const CheckResultSchema = z.object({
  name: z.string(),
  passed: z.boolean(),
  details: AnyJson,
});

/** What an apply did. */
export const ApplyAnswer = z.object({
  promotion: PromotionSchema,
  validation: z.array(CheckResultSchema),
  rolled_back: z.boolean(),
});

// ── Requests ────────────────────────────────────────────────────────────────────────────────

const ScopeList = z.array(Scope).min(1).default([...DEFAULT_SCOPES]);

/** `POST /promotions`: what to plan, and whether to record it. */
export const PlanRequest = z.object({
  source: z.string().min(1),
  scope: ScopeList,
  include_flag_state: z.boolean().default(false),
  /** Compute and return the plan without recording a promotion. */
  dry_run: z.boolean().default(false),
  /**
   * At most this many changes in the answer (the first ones, in plan order; the rest are
   * counted in `omitted`). The plan hash is the whole plan's, and `promotion.show` returns the
   * whole plan. Absent: every change.
   */
  changes_limit: Count.pipe(z.number().min(0)).optional(),
  /** Scope `schema`: the migrations pending in the target, with their lint findings. */
  migrations: z.array(PendingMigration).max(500).optional(),
  /** Scope `rollback`: the release to roll back (recorded in the target). */
  release_id: z.uuid().optional(),
  /** Scope `restore`: the backup to restore (`stagecoach backup restore --plan`). */
  backup: RestoreBackup.optional(),
  /** Scope `rollout`: the rollout to allow (`stagecoach rollout start --plan`). */
  rollout: RolloutPlanSchema.optional(),
}).refine((b) => !b.migrations || b.scope.includes("schema"), {
  message: "migrations are only planned with scope schema",
  path: ["migrations"],
}).refine((b) => (b.release_id !== undefined) === b.scope.includes("rollback"), {
  message: "release_id is planned with scope rollback, and only with it",
  path: ["release_id"],
}).refine((b) => b.scope.includes("restore") === (b.backup !== undefined), {
  message: "a backup is planned with scope restore, and scope restore needs a backup",
  path: ["backup"],
}).refine((b) => b.scope.includes("rollout") === (b.rollout !== undefined), {
  message: "a rollout is planned with scope rollout, and scope rollout needs a rollout",
  path: ["rollout"],
});

/** `POST /validate`: what parity covers. */
export const ValidateRequest = z.object({
  source: z.string().min(1),
  scope: ScopeList,
  include_flag_state: z.boolean().default(false),
});

/** `POST /promotions/:id/approve|reject`: a decision bound to the plan hash reviewed. */
export const DecisionRequest = z.object({
  plan_hash: Sha256,
  comment: z.string().max(2000).optional(),
});

/** `POST /config/import`. */
export const ImportRequest = z.object({
  bundle: z.string().min(1),
  dry_run: z.boolean().default(false),
});

/** `PUT /config/secrets/:key`. */
export const SecretRequest = z.object({
  value: z.string().min(1),
  description: z.string().max(500).optional(),
});

/** The path of a promotion. */
export const PromotionIdParams = z.object({ id: z.uuid("not a uuid").describe("promotion id") });
/** The path of a release. */
export const ReleaseIdParams = z.object({ id: z.uuid("not a uuid").describe("release id") });
/** The path of a config secret. */
export const ConfigKeyParams = z.object({
  key: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/, "not a config key").max(128)
    .describe("config key"),
});
/** `GET /releases?limit=`. */
export const ReleaseListQuery = z.object({
  limit: z.coerce.number("expected 1..200").int("expected 1..200").min(1, "expected 1..200")
    .max(200, "expected 1..200").default(20).describe("limit"),
});

/** The statuses a promotion passes through (`ops.promotion_status`). */
export const PROMOTION_STATUSES = [
  "planned",
  "awaiting_approval",
  "approved",
  "rejected",
  "expired",
  "applying",
  "succeeded",
  "failed",
  "rolled_back",
] as const;

const Limit = z.coerce.number("expected 1..200").int("expected 1..200").min(1, "expected 1..200")
  .max(200, "expected 1..200").default(50).describe("limit");

/** `GET /promotions?status=&risk=&source=&before=&limit=`: filters, newest first. */
export const PromotionListQuery = z.object({
  status: z.enum(PROMOTION_STATUSES).optional().describe("status"),
  risk: z.enum(["low", "high"]).optional().describe("risk"),
  source: z.string().regex(/^[a-z][a-z0-9_-]*$/, "not an environment name").max(64).optional()
    .describe("source"),
  /** Keyset paging: promotions created before this time. */
  before: z.iso.datetime({ offset: true, message: "expected an ISO time" }).optional()
    .describe("before"),
  limit: Limit,
});

/** `GET /audit?before_id=&limit=`: audit entries, newest first. */
export const AuditListQuery = z.object({
  /** Keyset paging: entries with a smaller id. */
  before_id: z.coerce.number("expected a positive id").int("expected a positive id")
    .min(1, "expected a positive id").optional().describe("before_id"),
  limit: Limit,
});

/** One entry of the audit log (`ops.audit_log`). */
export const AuditEntrySchema = z.object({
  id: z.string(),
  occurred_at: Timestamp,
  actor: z.string().nullable(),
  actor_email: z.string().nullable(),
  actor_role: z.string().nullable(),
  action: z.string(),
  environment: z.string().nullable(),
  subject_type: z.string().nullable(),
  subject_id: z.string().nullable(),
  details: AnyJson,
  hash: z.string(),
});

/** The header carrying the operator's transfer key (used in memory, never stored or logged). */
export const TRANSFER_KEY_HEADER = "x-stagecoach-transfer-key";
/** Routes that take the transfer key. */
export const TransferKeyHeaders = z.object({ [TRANSFER_KEY_HEADER]: z.string().optional() });

// ── Releases ────────────────────────────────────────────────────────────────────────────────

/** One step of a release as recorded (`scripts/release/record.ts`). */
export const ReleaseStepSchema = z.object({
  name: z.string(),
  status: z.enum(["running", "succeeded", "failed", "skipped", "waiting"]),
  summary: z.string().nullable().default(null),
  started_at: z.string().optional(),
  finished_at: z.string().nullable().optional(),
  ms: Num.optional(),
});

/** A release as `ops.releases` holds it. */
export const ReleaseSchema = z.object({
  id: z.string(),
  environment: z.string(),
  source_env: z.string(),
  git_sha: z.string(),
  started_by: z.string(),
  promotion_id: z.string().nullable(),
  status: z.enum([
    "running",
    "waiting_approval",
    "watching",
    "succeeded",
    "failed",
    "rolled_back",
    "nothing_to_release",
  ]),
  steps: z.array(ReleaseStepSchema),
  created_at: Timestamp,
  updated_at: Timestamp,
  finished_at: Timestamp.nullable(),
  /** The verified backup taken before the release changed anything (production). */
  backup: z.record(z.string(), z.unknown()).nullable().default(null),
  /** The watch after apply: settings, start, end, outcome. */
  watch: z.record(z.string(), z.unknown()).nullable().default(null),
  /** What a rollback did: trigger, data, schema, or why only a restore undoes it. */
  rollback: z.record(z.string(), z.unknown()).nullable().default(null),
});

/** One measure of a watch sample. */
export const WatchMetricSchema = z.object({
  name: z.string(),
  value: z.number().nullable(),
  threshold: z.number(),
  direction: z.enum(["above", "below"]),
  healthy: z.boolean(),
  detail: z.string().optional(),
});

/** One sample of a release watch. */
export const WatchSampleSchema = z.object({
  seq: Num,
  taken_at: Timestamp,
  healthy: z.boolean(),
  metrics: z.array(WatchMetricSchema),
});

/** A migration a release pushed, with its revert script (the text is not served). */
export const ReleaseRevertSchema = z.object({
  version: z.string(),
  name: z.string(),
  sha256: z.string().nullable(),
  loses_data: z.boolean(),
  reason: z.string().nullable(),
});

/** A release as a client reads it. */
export type Release = z.output<typeof ReleaseSchema>;

// ── Rollouts ────────────────────────────────────────────────────────────────────────────────

/** A rollout of a feature flag (`ops.flag_rollouts`), its health queries by name only. */
export const RolloutSchema = z.object({
  id: z.string(),
  flag_key: z.string(),
  environment: z.string(),
  status: z.enum(ROLLOUT_STATUSES),
  /** The percentages of the stages, rising. */
  stages: z.array(Count),
  /** 0-based index into `stages` of the stage the flag is at. */
  stage_index: Count,
  percent: Count,
  /** The flag's percentage before the rollout. */
  from_percent: Count,
  every_s: Count,
  sample_every_s: Count,
  breach_after: Count,
  on_breach: z.enum(["pause", "rollback"]),
  next_advance_at: Timestamp.nullable(),
  started_by: z.string(),
  /** The rollout promotion that approved it (gated environments). */
  promotion_id: z.string().nullable(),
  /** Why it stopped: the breach's samples, or who paused or aborted it (`by`, `comment`). */
  halted: z.record(z.string(), AnyJson).nullable(),
  created_at: Timestamp,
  finished_at: Timestamp.nullable(),
  /** The names of its health queries. */
  health: z.array(z.string()),
});

/** A rollout as a client reads it. */
export type Rollout = z.output<typeof RolloutSchema>;

/** One health sample of a rollout, at the percentage of the moment. */
export const RolloutSampleSchema = WatchSampleSchema.extend({ percent: Count });

/** Whether the caller may take one action on a rollout now, and why not. */
export const RolloutActionSchema = z.object({
  allowed: z.boolean(),
  /** `role` (never with this role) or `status` (not now); null when allowed. */
  code: z.enum(["role", "status"]).nullable(),
  reason: z.string().nullable(),
});

/** What the caller may do with a rollout now (`ops.rollout_actions`), as the wrappers rule. */
export const RolloutActionsSchema = z.object({
  pause: RolloutActionSchema,
  resume: RolloutActionSchema,
  abort: RolloutActionSchema,
});

/** The path of a rollout. */
export const RolloutIdParams = z.object({ id: z.uuid("not a uuid").describe("rollout id") });

/** `GET /rollouts?status=&flag=&limit=`: newest first. */
export const RolloutListQuery = z.object({
  status: z.enum(ROLLOUT_STATUSES).optional().describe("status"),
  flag: FlagKey.optional().describe("flag"),
  limit: z.coerce.number("expected 1..200").int("expected 1..200").min(1, "expected 1..200")
    .max(200, "expected 1..200").default(50).describe("limit"),
});

/** `POST /rollouts/:id/pause|resume|abort`: an optional comment, recorded with the actor. */
export const RolloutActionRequest = z.object({ comment: z.string().max(2000).optional() });

const RolloutActionRoute = {
  auth: true,
  params: RolloutIdParams,
  body: RolloutActionRequest,
  responses: { 200: z.object({ rollout: RolloutSchema }) },
} as const;

// ── The routes ──────────────────────────────────────────────────────────────────────────────

/** How a route is reached and what it answers. */
export interface RouteSpec {
  method: "GET" | "POST" | "PUT";
  /** Under `/ops`, Hono style (`/promotions/:id`). */
  path: string;
  /** Whether the caller must be a signed-in user (every route but health). */
  auth: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  body?: z.ZodType;
  /** The answers by status; any other status is an error in {@link ErrorAnswer}'s shape. */
  responses: Record<number, z.ZodType>;
}

/** The changes a plan answer left out (`changes_limit`), and how many of them are high risk. */
export const OmittedChanges = z.object({ changes: Count, high_risk: Count });

const PlanAnswers = {
  /** Nothing recorded: an empty plan, or a dry run. */
  200: z.object({
    empty: z.boolean(),
    dry_run: z.boolean(),
    plan: PlanSchema,
    plan_hash: z.string(),
    omitted: OmittedChanges.optional(),
  }),
  /** Recorded: the promotion carries the plan (its first `changes_limit` changes). */
  201: z.object({
    empty: z.literal(false),
    promotion: PromotionWithPlan,
    plan_hash: z.string(),
    omitted: OmittedChanges.optional(),
  }),
};

const SecretAnswer = z.object({
  key: z.string(),
  fingerprint: z.string(),
  promotion: PromotionSchema.nullable(),
});

/**
 * Every route of the `ops` function.
 *
 * @example
 * ```ts
 * const out = await ops.call("promotion.plan", { body: { source: "staging", dry_run: true } });
 * ```
 */
export const OPS_ROUTES = {
  "health": {
    method: "GET",
    path: "/health",
    auth: false,
    responses: { 200: z.object({ ok: z.literal(true), env: z.string().nullable() }) },
  },
  "me": {
    method: "GET",
    path: "/me",
    auth: true,
    responses: {
      200: z.object({
        id: z.string(),
        email: z.string().nullable(),
        role: z.enum(["viewer", "operator", "approver", "admin"]).nullable(),
      }),
    },
  },
  "promotion.plan": {
    method: "POST",
    path: "/promotions",
    auth: true,
    body: PlanRequest,
    responses: PlanAnswers,
  },
  "promotion.show": {
    method: "GET",
    path: "/promotions/:id",
    auth: true,
    params: PromotionIdParams,
    responses: {
      200: z.object({
        promotion: PromotionWithPlan,
        approvals: z.array(z.object({
          approver_id: z.string(),
          email: z.string().optional(),
          decision: z.enum(["approve", "reject"]),
          plan_hash: z.string(),
          comment: z.string().nullable(),
          created_at: Timestamp,
        })),
        validation: z.array(z.object({
          check_name: z.string(),
          passed: z.boolean(),
          details: AnyJson,
          run_at: Timestamp,
        })),
        touched_rows: Count,
        /** What the caller may do with it now; null when not a member (or an older database). */
        actions: PromotionActionsSchema.nullable().default(null),
      }),
    },
  },
  "promotion.approve": {
    method: "POST",
    path: "/promotions/:id/approve",
    auth: true,
    params: PromotionIdParams,
    body: DecisionRequest,
    responses: { 200: z.object({ promotion: PromotionSchema }) },
  },
  "promotion.reject": {
    method: "POST",
    path: "/promotions/:id/reject",
    auth: true,
    params: PromotionIdParams,
    body: DecisionRequest,
    responses: { 200: z.object({ promotion: PromotionSchema }) },
  },
  "promotion.apply": {
    method: "POST",
    path: "/promotions/:id/apply",
    auth: true,
    params: PromotionIdParams,
    headers: TransferKeyHeaders,
    responses: { 200: ApplyAnswer },
  },
  "promotion.rollback": {
    method: "POST",
    path: "/promotions/:id/rollback",
    auth: true,
    params: PromotionIdParams,
    responses: {
      200: z.object({ promotion: PromotionSchema, restored_rows: Count, changed: z.boolean() }),
    },
  },
  "validate": {
    method: "POST",
    path: "/validate",
    auth: true,
    body: ValidateRequest,
    responses: {
      200: z.object({ passed: z.boolean(), results: z.array(CheckResultSchema) }),
    },
  },
  "config.export": {
    method: "POST",
    path: "/config/export",
    auth: true,
    headers: TransferKeyHeaders,
    responses: { 200: z.object({ bundle: z.string(), entries: Count, secrets: Count }) },
  },
  "config.import": {
    method: "POST",
    path: "/config/import",
    auth: true,
    headers: TransferKeyHeaders,
    body: ImportRequest,
    responses: {
      200: z.object({
        dry_run: z.boolean(),
        source_env: z.string(),
        checksum: z.string(),
        plan: PlanSchema,
        plan_hash: z.string(),
        promotion: PromotionSchema.nullable(),
        applied: ApplyAnswer.nullable(),
      }),
    },
  },
  "config.set_secret": {
    method: "PUT",
    path: "/config/secrets/:key",
    auth: true,
    params: ConfigKeyParams,
    body: SecretRequest,
    responses: {
      /** Stored at once. */
      200: SecretAnswer,
      /** Approval required: the promotion that carries it. */
      202: SecretAnswer,
    },
  },
  "audit.verify": {
    method: "GET",
    path: "/audit/verify",
    auth: true,
    responses: {
      200: z.object({
        intact: z.boolean(),
        entries: Count,
        first_broken_id: z.string().nullable(),
      }),
    },
  },
  "promotion.list": {
    method: "GET",
    path: "/promotions",
    auth: true,
    query: PromotionListQuery,
    responses: { 200: z.object({ promotions: z.array(PromotionSchema) }) },
  },
  "audit.list": {
    method: "GET",
    path: "/audit",
    auth: true,
    query: AuditListQuery,
    responses: { 200: z.object({ entries: z.array(AuditEntrySchema) }) },
  },
  "release.list": {
    method: "GET",
    path: "/releases",
    auth: true,
    query: ReleaseListQuery,
    responses: { 200: z.object({ releases: z.array(ReleaseSchema) }) },
  },
  "release.show": {
    method: "GET",
    path: "/releases/:id",
    auth: true,
    params: ReleaseIdParams,
    responses: {
      200: z.object({
        release: ReleaseSchema,
        samples: z.array(WatchSampleSchema).default([]),
        reverts: z.array(ReleaseRevertSchema).default([]),
      }),
    },
  },
  "rollout.list": {
    method: "GET",
    path: "/rollouts",
    auth: true,
    query: RolloutListQuery,
    responses: { 200: z.object({ rollouts: z.array(RolloutSchema) }) },
  },
  "rollout.show": {
    method: "GET",
    path: "/rollouts/:id",
    auth: true,
    params: RolloutIdParams,
    responses: {
      200: z.object({
        rollout: RolloutSchema,
        /** The newest samples (at most 20), oldest first. */
        samples: z.array(RolloutSampleSchema),
        /** The rollout promotion that approved it, with who approved; null without one. */
        promotion: z.object({
          id: z.string(),
          status: z.string(),
          plan_hash: z.string(),
          approved_by: z.array(z.string()),
        }).nullable(),
        /** What the caller may do with it now; null when not a member. */
        actions: RolloutActionsSchema.nullable(),
      }),
    },
  },
  "rollout.pause": { method: "POST", path: "/rollouts/:id/pause", ...RolloutActionRoute },
  "rollout.resume": { method: "POST", path: "/rollouts/:id/resume", ...RolloutActionRoute },
  "rollout.abort": { method: "POST", path: "/rollouts/:id/abort", ...RolloutActionRoute },
} as const satisfies Record<string, RouteSpec>;

/** The name of an `ops` route, e.g. `"promotion.plan"`. */
export type OpsRouteName = keyof typeof OPS_ROUTES;
/** The spec of route `N`. */
export type OpsRoute<N extends OpsRouteName> = (typeof OPS_ROUTES)[N];

type Input<S> = S extends z.ZodType ? z.input<S> : never;
type Part<R, K extends string, W extends string> = R extends Record<K, z.ZodType>
  ? (Partial<Input<R[K]>> extends Input<R[K]> ? { [P in W]?: Input<R[K]> }
    : { [P in W]: Input<R[K]> })
  : Record<never, never>;

/** What a client sends to route `N`: its path parameters, query, headers and body. */
export type OpsRequest<N extends OpsRouteName> =
  & Part<OpsRoute<N>, "params", "params">
  & Part<OpsRoute<N>, "query", "query">
  & Part<OpsRoute<N>, "headers", "headers">
  & Part<OpsRoute<N>, "body", "body">;

type Responses<N extends OpsRouteName> = OpsRoute<N>["responses"];

/** What route `N` answers, as a client reads it (any of its statuses). */
export type OpsAnswer<N extends OpsRouteName> = {
  [S in keyof Responses<N>]: z.output<Responses<N>[S]>;
}[keyof Responses<N>];

/** What route `N`'s handler may answer: a status of the contract with its body. */
export type OpsReply<N extends OpsRouteName> = {
  [S in keyof Responses<N>]: { status: S; body: z.input<Responses<N>[S]> };
}[keyof Responses<N>];

/** Calls a route of the contract and reads its answer (the CLI's `callOps`, a test's fake). */
export type OpsCaller = <N extends OpsRouteName>(
  name: N,
  request: OpsRequest<N>,
) => Promise<OpsAnswer<N>>;

/** An answer that does not match the contract. */
export class ContractError extends Error {
  /** Where in the answer, e.g. `promotion.plan_hash`. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = "ContractError";
    this.path = path;
  }
}

/**
 * Reads a 2xx answer of route `name` by the contract.
 *
 * @param name the route
 * @param status the HTTP status
 * @param body the answer, parsed as lossless JSON
 * @returns the answer as the contract types it
 * @throws {ContractError} when the status is not one of the route's, or the body does not
 * match (the message names the path and what was expected)
 * @example
 * ```ts
 * const me = parseAnswer("me", 200, parseJson(text)); // { id, email, role }
 * ```
 */
export function parseAnswer<N extends OpsRouteName>(
  name: N,
  status: number,
  body: unknown,
): OpsAnswer<N> {
  const route: RouteSpec = OPS_ROUTES[name];
  const schema = route.responses[status];
  const where = `${route.method} ${route.path}`;
  if (!schema) {
    throw new ContractError(
      "",
      `Cannot read the answer to ${where}: status ${status} is not in the contract`,
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.map(String).join(".");
    throw new ContractError(
      path,
      `Cannot read the answer to ${where}: ${path || "(root)"}: ${issue.message}`,
    );
  }
  return parsed.data as OpsAnswer<N>;
}

/**
 * The path of route `name` with its parameters filled in (encoded).
 *
 * @example
 * ```ts
 * routePath("promotion.show", { id: "7d…" }); // "/promotions/7d…"
 * ```
 */
export function routePath(name: OpsRouteName, params: Record<string, string> = {}): string {
  return OPS_ROUTES[name].path.replace(/:([a-z_]+)/g, (_, p: string) => {
    if (params[p] === undefined) throw new Error(`Cannot call ${name}: missing parameter ${p}`);
    return encodeURIComponent(params[p]);
  });
}

// The contract's plan is the planner's: a drift between the two fails type checking here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _planMatches: Same<z.output<typeof PlanSchema>, Plan> = true;
const _actionsMatch: Same<typeof ACTIONS[number], Action> = true;
void _planMatches;
void _actionsMatch;
