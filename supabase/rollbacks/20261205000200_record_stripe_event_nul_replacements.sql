-- Reverts 20261205000200_record_stripe_event_nul_replacements: drops the ledger's count of
-- U+0000 replacements.
-- stagecoach: loses-data which events had U+0000 replaced by U+FFFD
alter table stripe.events drop column nul_replaced;
