-- Intent: the before-image of every row a promotion touched, written in the same transaction
-- as the changes, so a rollback restores the target byte for byte (timestamps and surrogate
-- ids included) and can tell which later promotions touched the same keys.
--
-- Before-images of secret config rows hold ciphertext, so the image itself is readable by no
-- API role but the service role; ops members see which keys were touched.

create table if not exists ops.promotion_snapshots (
  promotion_id uuid not null references ops.promotions (id) on delete cascade,
  seq integer not null,
  kind text not null,
  natural_key text not null,
  table_name text not null check (table_name ~ '^public\.[a-z_]+$'),
  row_id text not null,
  action text not null check (action in ('create', 'update', 'delete', 'retire', 'replace', 'archive')),
  -- The whole row as it was (to_jsonb), null when the promotion created it.
  before jsonb,
  created_at timestamptz not null default now(),
  primary key (promotion_id, seq)
);

comment on table ops.promotion_snapshots is
  'Before-images of the rows each promotion changed (null before = created by it).';

create index if not exists promotion_snapshots_key_idx
  on ops.promotion_snapshots (kind, natural_key);

alter table ops.promotion_snapshots enable row level security;

revoke all on table ops.promotion_snapshots from public, anon, authenticated;
grant select (promotion_id, seq, kind, natural_key, table_name, row_id, action, created_at)
  on table ops.promotion_snapshots to authenticated;
grant select, insert, delete on table ops.promotion_snapshots to service_role;

drop policy if exists "Ops members can see which rows a promotion touched" on ops.promotion_snapshots;
create policy "Ops members can see which rows a promotion touched"
  on ops.promotion_snapshots for select to authenticated
  using ((select ops.is_member()));
