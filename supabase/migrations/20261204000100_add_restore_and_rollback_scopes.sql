-- Intent: two more promotion scopes, each a permission an approver gives for one high-risk act
-- that is not a data change: `restore` (restore a named, verified backup into this environment:
-- `stagecoach backup restore`) and `rollback` (undo a named release: its data promotion and its
-- migrations' revert scripts: `stagecoach release rollback`). Like `users`, each plan carries one
-- change that says exactly what is allowed; the act itself is done by the CLI once approved.

alter table ops.promotions drop constraint if exists promotions_scope_check;
alter table ops.promotions add constraint promotions_scope_check
  check (cardinality(scope) > 0
         and scope <@ array['config', 'tiers', 'flags', 'stripe', 'users', 'schema',
                            'restore', 'rollback']);
