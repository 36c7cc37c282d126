-- Intent: `private.users_copy_fingerprints`, where a user copy keeps, batch by batch, the
-- fingerprints of the personal values it read from the source, so that its leak scan is one
-- hash join in the target at the end instead of a second pass over the source.
--
-- A row is one batch of one table: the 64-bit fingerprints (`hashtextextended(lower(btrim(v)),
-- seed)`, the seed derived from the anonymization key and the job id, never stored) of the
-- selected source rows' personal values. Rows are written in the batch's own target
-- transaction, so they commit with its checkpoint; they go when the job validates, and with
-- the job. Unlogged: after a crash of the target they may be gone, which the job notices (it
-- counts what it wrote in its checkpoints) and then reads the source again.
--
-- Nobody but the owner (the copy runs as it) reads or writes them: RLS without policies and
-- no grants.

create unlogged table if not exists private.users_copy_fingerprints (
  job_id uuid not null references ops.jobs (id) on delete cascade,
  table_name text not null,
  fingerprints bigint[] not null
);

create index if not exists users_copy_fingerprints_job_idx
  on private.users_copy_fingerprints (job_id);

comment on table private.users_copy_fingerprints is
  'Fingerprints of the personal source values each batch of a users.copy job read, for its leak scan; owner only.';

alter table private.users_copy_fingerprints enable row level security;
revoke all on table private.users_copy_fingerprints from public, anon, authenticated, service_role;
