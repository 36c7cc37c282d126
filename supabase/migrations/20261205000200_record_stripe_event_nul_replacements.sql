-- Intent: say on the ledger row when an event's strings held U+0000.
--
-- Postgres cannot hold U+0000 in jsonb or text, and Stripe allows it in any string. The webhook
-- replaces it with U+FFFD (the Unicode replacement character) in the payload it mirrors, and
-- records here how many strings it changed, so the mirror's deviation from Stripe is visible.
-- Null: nothing was replaced.
-- Revert: supabase/rollbacks/20261205000200_record_stripe_event_nul_replacements.sql.

alter table stripe.events
  add column nul_replaced integer check (nul_replaced > 0);

comment on column stripe.events.nul_replaced is
  'How many strings of the event held U+0000, mirrored with U+FFFD instead; null for none.';
