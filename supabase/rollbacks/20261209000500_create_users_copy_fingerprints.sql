-- Reverts 20261209000500: the per-batch fingerprints of user copies' leak scans.
-- stagecoach: loses-data drops private.users_copy_fingerprints (a running copy's leak scan then reads the source again)

drop table if exists private.users_copy_fingerprints;
