-- Intent: accept every price, plan and product id Stripe may send.
--
-- Stripe generates `price_…`/`plan_…`/`prod_…` ids, but plans (and so prices created through the
-- Plans API) and products may have ids chosen by the account (`gold-monthly`, `gold.v2`).
-- Stripe's OpenAPI definition (components.schemas.price/plan/product, property `id`) says only
-- `type: string, maxLength: 5000`: no pattern. The old checks (`^price_|^plan_` and
-- `^prod_|^[A-Za-z0-9_-]+$`) turned such an event into a permanent failure; the new checks are
-- exactly what Stripe allows: a non-empty string of at most 5000 characters.
-- Revert: supabase/rollbacks/20261205000100_relax_stripe_catalog_id_checks.sql.

alter table stripe.prices drop constraint prices_id_check;
alter table stripe.prices
  add constraint prices_id_check check (length(id) between 1 and 5000);

alter table stripe.products drop constraint products_id_check;
alter table stripe.products
  add constraint products_id_check check (length(id) between 1 and 5000);
