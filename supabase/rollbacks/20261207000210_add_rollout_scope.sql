-- Reverts 20261207000210: the scope check without `rollout`. Refused (the check fails) while a
-- promotion of scope rollout exists; nothing is lost.

alter table ops.promotions drop constraint if exists promotions_scope_check;
alter table ops.promotions add constraint promotions_scope_check
  check (cardinality(scope) > 0
         and scope <@ array['config', 'tiers', 'flags', 'stripe', 'users', 'schema',
                            'restore', 'rollback']);
