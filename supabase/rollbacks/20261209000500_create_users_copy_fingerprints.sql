-- Reverts 20261209000500: the per-batch fingerprints of user copies' leak scans.
-- stagecoach: transient scratch fingerprints of running user copies: their leak scans then read the source again
-- Nothing else is lost: a copy that finds its fingerprints missing (as after a crash of the
-- target, the table being unlogged) falls back to reading the source.

drop table if exists private.users_copy_fingerprints;
