-- Reverts 20261206000500_promotion_snapshots_checked_per_statement: drops the per-statement
-- triggers and puts the foreign key back (as in 20261125100500_create_ops_promotion_snapshots).
-- Refuses (and changes nothing) if a snapshot names no promotion.

drop trigger promotions_snapshots_truncated on ops.promotions;
drop trigger promotions_snapshots_deleted on ops.promotions;
drop function ops.delete_promotion_snapshots();
drop trigger promotion_snapshots_promotion_updated on ops.promotion_snapshots;
drop trigger promotion_snapshots_promotion_inserted on ops.promotion_snapshots;
drop function ops.check_snapshot_promotions();

alter table ops.promotion_snapshots
  add constraint promotion_snapshots_promotion_id_fkey
  foreign key (promotion_id) references ops.promotions (id) on delete cascade;
