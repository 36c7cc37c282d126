-- Reverts 20261204000100: the scope check without `restore` and `rollback`. Refused (the check
-- fails) while a promotion with one of those scopes exists; nothing is lost.

alter table ops.promotions drop constraint if exists promotions_scope_check;
alter table ops.promotions add constraint promotions_scope_check
  check (cardinality(scope) > 0
         and scope <@ array['config', 'tiers', 'flags', 'stripe', 'users', 'schema']);
