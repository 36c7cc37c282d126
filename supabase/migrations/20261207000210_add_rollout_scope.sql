-- Intent: one more promotion scope, `rollout`: the permission an approver gives to start one
-- rollout of a flag, exactly as planned (stages, time per stage, what a breach does, the health
-- queries by name and SHA-256), in an environment whose policy requires approval. Like
-- `restore` and `rollback`, the plan carries one change (`flag_rollout`) that says what is
-- allowed; `ops.start_rollout` (20261207000200) checks it, and the apply writes nothing.

alter table ops.promotions drop constraint if exists promotions_scope_check;
alter table ops.promotions add constraint promotions_scope_check
  check (cardinality(scope) > 0
         and scope <@ array['config', 'tiers', 'flags', 'stripe', 'users', 'schema',
                            'restore', 'rollback', 'rollout']);
