-- Intent: validate, in a transaction of their own, the checks that the previous migration
-- (`20261203000100_add_github_notification_endpoints`) added `not valid`: the kinds (`slack`,
-- `webhook`, `github`), the secret each kind holds, and the one event a github endpoint
-- hears. Validating takes only a SHARE UPDATE EXCLUSIVE lock: reads and writes go on.

alter table ops.notification_endpoints
  validate constraint notification_endpoints_kind_check;
alter table ops.notification_endpoints
  validate constraint notification_endpoints_secret_per_kind;
alter table ops.notification_endpoints
  validate constraint notification_endpoints_github_hears_approvals;
