-- Intent: `stripe.write_membership` and `stripe.apply_membership` run with a fixed, empty
-- search_path, as Supabase's database linter asks (`function_search_path_mutable`, a WARN in the
-- dashboard's Security Advisor and in `tests/splinter_test.ts`).
--
-- 20261206000300 left both without a `set search_path` clause to save a GUC change per event
-- (they are security invoker, called from `stripe.ingest_events`, which sets an empty path, and
-- qualify every name). The saving is a few microseconds of a ~500 µs event; a hosted project must
-- not carry the warnings.
-- Revert: supabase/rollbacks/20261208000400_pin_stripe_membership_search_path.sql.

alter function stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text)
  set search_path = '';
alter function stripe.apply_membership(text) set search_path = '';
