-- Intent: a before-image must tell SQL NULL from JSON null. `to_jsonb(row)` writes both as
-- `null`, and a rollback would restore a JSONB column holding JSON `null` as SQL NULL (breaking
-- not-null columns and the secret check of app_config). Snapshots now list the columns that
-- were SQL NULL; every other JSONB `null` is restored as 'null'::jsonb.

alter table ops.promotion_snapshots
  add column if not exists sql_nulls text[] not null default '{}';

comment on column ops.promotion_snapshots.sql_nulls is
  'JSONB columns that were SQL NULL in the before-image (to_jsonb cannot tell them from JSON null).';
