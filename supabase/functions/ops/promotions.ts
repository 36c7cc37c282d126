/**
 * The promotion routes of the `ops` function (mounted under `/ops`):
 *
 * - `POST /ops/promotions` `{ source, scope?, include_flag_state?, dry_run?, migrations?, release_id? }` → 201 the promotion and its
 *   plan, or 200 `{ empty: true }` when there is nothing to do, or the plan alone with
 *   `dry_run: true` (nothing is recorded in either case)
 * - `GET /ops/promotions?status=&risk=&source=&before=&limit=` → `{ promotions }`, newest first,
 *   without plans (the console's list)
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
import { type Received, reply, serveRoute } from "../_shared/api/route.ts";
import type { requireUser } from "../_shared/auth.ts";
import { SECRET_SOURCE } from "../_shared/promotion/kinds.ts";
import { pagePlan } from "../_shared/promotion/render.ts";
import { applyBundlePromotion } from "../_shared/config/transfer.ts";
import { applySecretPromotion } from "../_shared/config/secret_proposal.ts";
import {
  applyPromotion,
  createPromotion,
  decide,
  listPromotions,
  type PromotionContext,
  promotionSource,
  rollbackPromotion,
  showPromotion,
  validateTarget,
} from "../_shared/promotion/service.ts";
import { TRANSFER_KEY_HEADER } from "../_shared/api/contract.ts";

/** Builds the pipeline context for a request. */
export type ContextFor = (claims: ReturnType<typeof requireUser>) => PromotionContext;

/** The promotion routes; requests and answers are the contract's (`_shared/api/contract.ts`). */
export function promotionRoutes(contextFor: ContextFor) {
  const app = new Hono();

  serveRoute(app, "promotion.plan", async ({ user, body }) => {
    const out = await createPromotion(
      contextFor(user),
      {
        source: body.source,
        scope: body.scope,
        includeFlagState: body.include_flag_state,
        migrations: body.migrations,
        releaseId: body.release_id,
        backup: body.backup,
        rollout: body.rollout,
      },
      { dryRun: body.dry_run },
    );
    // The plan travels once (inside the promotion), paged when the client asks (the CLI shows
    // the first changes); clients render it with render.ts.
    const { plan, omitted } = pagePlan(out.plan, body.changes_limit);
    if (!out.promotion) {
      const empty = out.plan.changes.length === 0;
      return reply(200, { empty, dry_run: body.dry_run, plan, plan_hash: out.plan_hash, omitted });
    }
    return reply(201, {
      empty: false as const,
      promotion: { ...out.promotion, plan },
      plan_hash: out.plan_hash,
      omitted,
    });
  });

  serveRoute(app, "promotion.list", async ({ user, query }) => {
    const promotions = await listPromotions(contextFor(user), query);
    return reply(200, { promotions });
  });

  serveRoute(app, "promotion.show", async ({ user, params }) => {
    const shown = await showPromotion(contextFor(user), params.id);
    const { plan } = shown.promotion;
    if (!plan) throw new Error(`Cannot show promotion ${params.id}: it was read without its plan`);
    return reply(200, { ...shown, promotion: { ...shown.promotion, plan } });
  });

  const decideAs =
    (decision: "approve" | "reject") =>
    async ({ user, params, body }: Received<"promotion.approve" | "promotion.reject">) => {
      const promotion = await decide(contextFor(user), params.id, {
        decision,
        planHash: body.plan_hash,
        comment: body.comment,
      });
      return reply(200, { promotion });
    };
  serveRoute(app, "promotion.approve", decideAs("approve"));
  serveRoute(app, "promotion.reject", decideAs("reject"));

  serveRoute(app, "promotion.apply", async ({ user, params, headers }) => {
    const context = contextFor(user);
    // A bundle import applies with the transfer key (its secrets are sealed under it); a
    // secret proposal with the value stored, encrypted, beside it.
    const key = headers[TRANSFER_KEY_HEADER];
    if (key) return reply(200, await applyBundlePromotion(context, params.id, key));
    const stored = await promotionSource(context, params.id);
    if (stored?.source_env === SECRET_SOURCE && stored.bundle) {
      return reply(200, await applySecretPromotion(context, params.id, stored.bundle));
    }
    return reply(200, await applyPromotion(context, params.id));
  });

  serveRoute(
    app,
    "promotion.rollback",
    async ({ user, params }) => reply(200, await rollbackPromotion(contextFor(user), params.id)),
  );

  serveRoute(app, "validate", async ({ user, body }) => {
    const results = await validateTarget(contextFor(user), {
      source: body.source,
      scope: body.scope,
      includeFlagState: body.include_flag_state,
    });
    return reply(200, { passed: results.every((r) => r.passed), results });
  });

  return app;
}
