-- Reverts 20261206000510_promotion_plans_compressed_with_lz4: new plans are compressed with the
-- server's default method again (plans stored with lz4 stay readable as they are).

alter table ops.promotions alter column plan set compression default;
