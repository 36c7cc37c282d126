-- Intent: a stored plan is compressed with lz4 instead of pglz. A plan is megabytes of JSON at
-- scale (40 MB of text at 100,000 changes). Storing that plan's jsonb took 0.76-0.80 s with pglz
-- (3.3 MB stored) and 0.11-0.14 s with lz4 (3.7 MB), measured in psql on the local stack on a
-- shared machine; reading it (show, apply's carried changes) costs about the same with either.
-- Plans stored before keep pglz; both read alike. Where the server is built without lz4,
-- nothing changes.

do $$
begin
  if exists (select 1 from pg_catalog.pg_settings
             where name = 'default_toast_compression' and 'lz4' = any(enumvals)) then
    alter table ops.promotions alter column plan set compression lz4;
  end if;
end
$$;
