/**
 * What a Stripe-scoped apply reads: the promotion is planned through staging's `ops` function,
 * then applied in process with a counted Stripe client, so the figures are the apply's own.
 * The apply reads the Stripe catalog once before its changes (the drift check) and once after
 * (parity and the catalog checks share it), and asks the system for a plan once per read.
 */
import assert from "node:assert/strict";
import type Stripe from "stripe";
import { localEnv } from "../scripts/local/config.ts";
import { emulatorClient } from "../scripts/local/stripe_emulator/testing.ts";
import {
  applyPromotion,
  type PromotionContext,
} from "../supabase/functions/_shared/promotion/service.ts";
import { stripeCatalogSystem } from "../supabase/functions/_shared/stripe/catalog_sync.ts";
import { createTier, deleteTiers, uniqueSuffix, withHarness } from "./promotion_helpers.ts";

const SCOPE = ["tiers", "stripe"];
const staging = localEnv("staging");

/** Counts full catalog reads: every read lists the products (one page here). */
function countCatalogReads(stripe: Stripe): { reads: number } {
  const counter = { reads: 0 };
  const list = stripe.products.list.bind(stripe.products);
  stripe.products.list = ((...args: Parameters<typeof list>) => {
    if (!args[0]?.starting_after) counter.reads++;
    return list(...args);
  }) as typeof list;
  return counter;
}

Deno.test("a Stripe-scoped apply reads the catalog once before and once after, plans once each", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const slug = `t-${uniqueSuffix()}`;
    await createTier(h.db.development, slug, { amount: 1000 });
    try {
      const planned = await h.plan("development", "staging", { scope: SCOPE });
      assert.equal(planned.status, 201, planned.text);
      const id = planned.body.promotion.id;

      const stripe = await emulatorClient(staging);
      const counted = countCatalogReads(stripe);
      const system = stripeCatalogSystem(stripe, {
        webhookUrl: `${staging.functionsUrl}/stripe-webhook`,
        target: h.db.staging,
        functionsHoldSecret: true,
      });
      let plans = 0;
      const ctx: PromotionContext = {
        targetEnv: "staging",
        target: h.db.staging,
        sourceDb: (name) => h.db[name as "development"],
        claims: { role: "authenticated", sub: await h.userId("staging", "operator") },
        customChecks: () => Promise.resolve([]),
        external: {
          stripe: {
            ...system,
            plan: (...args: Parameters<typeof system.plan>) => (plans++, system.plan(...args)),
          },
        },
      };
      const applied = await applyPromotion(ctx, id);
      assert.equal(applied.promotion.status, "succeeded", JSON.stringify(applied));
      console.log(`catalog reads: ${counted.reads}, external plans: ${plans}`);
      assert.deepEqual({ catalogReads: counted.reads, plans }, { catalogReads: 2, plans: 2 });
    } finally {
      await deleteTiers(h.db.development, slug);
      await h.promote("development", "staging", { scope: SCOPE });
    }
  });
});
