/**
 * The promotion routes of the `ops` function (mounted under `/ops`):
 *
 * - `POST /ops/promotions` `{ source, scope?, include_flag_state?, dry_run?, migrations? }` → 201 the promotion and its
 *   plan, or 200 `{ empty: true }` when there is nothing to do, or the plan alone with
 *   `dry_run: true` (nothing is recorded in either case)
 * - `GET /ops/promotions/:id` → the promotion, its decisions, validation results
 * - `POST /ops/promotions/:id/approve` `{ plan_hash, comment? }`, `…/reject` `{ plan_hash, comment? }`
 * - `POST /ops/promotions/:id/apply` → the outcome with the validation report (a bundle import
 *   with the transfer key header; a secret proposal with its stored, encrypted value)
 * - `POST /ops/promotions/:id/rollback`
 * - `POST /ops/validate` `{ source, scope?, include_flag_state? }` → the checks
 *
 * Everything runs as the caller; see `_shared/promotion/service.ts`.
 *
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { readCallerClaims, requireUser } from "../_shared/auth.ts";
import { ApiError, readJsonBody } from "../_shared/http.ts";
import { DEFAULT_SCOPES, SCOPES, SECRET_SOURCE } from "../_shared/promotion/kinds.ts";
import { applyBundlePromotion } from "../_shared/config/transfer.ts";
import { applySecretPromotion } from "../_shared/config/secret_proposal.ts";
import {
  applyPromotion,
  createPromotion,
  decide,
  type PromotionContext,
  promotionSource,
  rollbackPromotion,
  showPromotion,
  validateTarget,
} from "../_shared/promotion/service.ts";
import { PendingMigration } from "../_shared/promotion/schema.ts";
import { TRANSFER_KEY_HEADER } from "./config_routes.ts";

/** Builds the pipeline context for a request. */
export type ContextFor = (claims: ReturnType<typeof requireUser>) => PromotionContext;

const Scope = z.array(z.enum(SCOPES)).min(1).default([...DEFAULT_SCOPES]);
const PlanBody = z.object({
  source: z.string().min(1),
  scope: Scope,
  include_flag_state: z.boolean().default(false),
  /** Compute and return the plan without recording a promotion. */
  dry_run: z.boolean().default(false),
  /** Scope `schema`: the migrations pending in the target, with their lint findings. */
  migrations: z.array(PendingMigration).max(500).optional(),
}).refine((b) => !b.migrations || b.scope.includes("schema"), {
  message: "migrations are only planned with scope schema",
  path: ["migrations"],
});
const DecisionBody = z.object({
  plan_hash: z.string().regex(/^[0-9a-f]{64}$/, "expected the plan's SHA-256 (64 hex digits)"),
  comment: z.string().max(2000).optional(),
});
const Id = z.uuid();

function promotionId(raw: string): string {
  const parsed = Id.safeParse(raw);
  if (!parsed.success) {
    throw new ApiError(400, "invalid_request", `Cannot read promotion id "${raw}": not a uuid`);
  }
  return parsed.data;
}

/** The promotion routes. */
export function promotionRoutes(contextFor: ContextFor) {
  const app = new Hono();
  const ctx = (header: string | undefined) => contextFor(requireUser(readCallerClaims(header)));

  app.post("/promotions", async (c) => {
    const context = ctx(c.req.header("authorization"));
    const body = await readJsonBody(c.req.raw, PlanBody);
    const out = await createPromotion(
      context,
      {
        source: body.source,
        scope: body.scope,
        includeFlagState: body.include_flag_state,
        migrations: body.migrations,
      },
      undefined,
      { dryRun: body.dry_run },
    );
    // The plan travels once (inside the promotion); clients render it with render.ts.
    if (!out.promotion) {
      const empty = out.plan.changes.length === 0;
      return c.json(
        { empty, dry_run: body.dry_run, plan: out.plan, plan_hash: out.plan_hash },
        200,
      );
    }
    return c.json({ empty: false, promotion: out.promotion, plan_hash: out.plan_hash }, 201);
  });

  app.get("/promotions/:id", async (c) => {
    return c.json(
      await showPromotion(ctx(c.req.header("authorization")), promotionId(c.req.param("id"))),
    );
  });

  for (const decision of ["approve", "reject"] as const) {
    app.post(`/promotions/:id/${decision}`, async (c) => {
      const context = ctx(c.req.header("authorization"));
      const body = await readJsonBody(c.req.raw, DecisionBody);
      const promotion = await decide(context, promotionId(c.req.param("id")), {
        decision,
        planHash: body.plan_hash,
        comment: body.comment,
      });
      return c.json({ promotion });
    });
  }

  app.post("/promotions/:id/apply", async (c) => {
    const context = ctx(c.req.header("authorization"));
    const id = promotionId(c.req.param("id"));
    // A bundle import applies with the transfer key (its secrets are sealed under it); a
    // secret proposal with the value stored, encrypted, beside it.
    const key = c.req.header(TRANSFER_KEY_HEADER);
    if (key) return c.json(await applyBundlePromotion(context, id, key));
    const stored = await promotionSource(context, id);
    if (stored?.source_env === SECRET_SOURCE && stored.bundle) {
      return c.json(await applySecretPromotion(context, id, stored.bundle));
    }
    return c.json(await applyPromotion(context, id));
  });

  app.post("/promotions/:id/rollback", async (c) => {
    return c.json(
      await rollbackPromotion(ctx(c.req.header("authorization")), promotionId(c.req.param("id"))),
    );
  });

  app.post("/validate", async (c) => {
    const context = ctx(c.req.header("authorization"));
    const body = await readJsonBody(c.req.raw, PlanBody);
    const results = await validateTarget(context, {
      source: body.source,
      scope: body.scope,
      includeFlagState: body.include_flag_state,
    });
    return c.json({ passed: results.every((r) => r.passed), results });
  });

  return app;
}
