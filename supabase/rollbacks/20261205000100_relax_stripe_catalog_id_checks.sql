-- Reverts 20261205000100_relax_stripe_catalog_id_checks: puts back the narrower id checks of
-- 20261125200100_create_stripe_catalog_mirror.
--
-- Refuses (the whole revert fails and changes nothing) while the mirror holds a price or product
-- with an account-chosen id the old checks reject (e.g. `gold-monthly`, `gold.v2`). Such rows are
-- kept on purpose: deleting them would lose mirrored Stripe state. To revert anyway, first decide
-- what to do with them (`select id from stripe.prices where not (id ~ '^price_' or id ~ '^plan_')`).

alter table stripe.products drop constraint products_id_check;
alter table stripe.products
  add constraint products_id_check check (id ~ '^prod_' or id ~ '^[A-Za-z0-9_-]+$');

alter table stripe.prices drop constraint prices_id_check;
alter table stripe.prices
  add constraint prices_id_check check (id ~ '^price_' or id ~ '^plan_');
