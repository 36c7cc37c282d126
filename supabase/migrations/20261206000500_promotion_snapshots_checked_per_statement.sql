-- Intent: a promotion's snapshots are checked against ops.promotions once per statement, not
-- once per row. An apply writes one snapshot row per changed row (14,646 at the bench's first
-- size, 100,000 at its second) with one INSERT … SELECT per kind; the foreign key fired a
-- check (a lookup of the promotion with FOR KEY SHARE) for every one of them. The same
-- guarantees now hold per statement, from the statement's transition table:
--
-- - a snapshot names an existing promotion (the promotions named are locked FOR KEY SHARE, as
--   the foreign key did, and a missing one is refused with `foreign_key_violation`);
-- - deleting a promotion deletes its snapshots (as `on delete cascade` did), truncating
--   promotions truncates them too.
--
-- A promotion's id never changes (the promotion guard refuses it), so no update check is
-- needed on that side.

alter table ops.promotion_snapshots drop constraint if exists promotion_snapshots_promotion_id_fkey;

create or replace function ops.check_snapshot_promotions()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  missing uuid;
begin
  perform 1 from ops.promotions as p
  where p.id in (select distinct n.promotion_id from new_snapshots as n)
  for key share of p;
  select n.promotion_id into missing
  from new_snapshots as n
  where not exists (select 1 from ops.promotions as p where p.id = n.promotion_id)
  limit 1;
  if found then
    raise exception 'Cannot write a snapshot of promotion %: there is no such promotion', missing
      using errcode = 'foreign_key_violation';
  end if;
  return null;
end
$$;

comment on function ops.check_snapshot_promotions() is
  'Refuses snapshots naming no promotion, once per statement (locks the promotions named FOR KEY SHARE).';

revoke all on function ops.check_snapshot_promotions() from public, anon, authenticated, service_role;

create trigger promotion_snapshots_promotion_inserted
  after insert on ops.promotion_snapshots
  referencing new table as new_snapshots
  for each statement execute function ops.check_snapshot_promotions();

create trigger promotion_snapshots_promotion_updated
  after update on ops.promotion_snapshots
  referencing new table as new_snapshots
  for each statement execute function ops.check_snapshot_promotions();

create or replace function ops.delete_promotion_snapshots()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'TRUNCATE' then
    truncate ops.promotion_snapshots;
  else
    delete from ops.promotion_snapshots as s
    using old_promotions as o
    where s.promotion_id = o.id;
  end if;
  return null;
end
$$;

comment on function ops.delete_promotion_snapshots() is
  'Deletes (or truncates) the snapshots of deleted (or truncated) promotions, once per statement.';

revoke all on function ops.delete_promotion_snapshots() from public, anon, authenticated, service_role;

create trigger promotions_snapshots_deleted
  after delete on ops.promotions
  referencing old table as old_promotions
  for each statement execute function ops.delete_promotion_snapshots();

create trigger promotions_snapshots_truncated
  after truncate on ops.promotions
  for each statement execute function ops.delete_promotion_snapshots();
