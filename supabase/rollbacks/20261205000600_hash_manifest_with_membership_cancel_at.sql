-- Reverts 20261205000600: the manifest hash before `memberships.cancel_at` (jobs queued with the
-- newer manifest are then refused by ops.create_job and the slice re-check). Nothing is lost.

create or replace function private.users_copy_manifest_hash()
returns text
language sql
immutable
set search_path = ''
as $$
  -- SHA-256 of supabase/anonymize.json as parsed and canonicalised by _shared/users/manifest.ts.
  select '9c54ceb78af0f31fa4b73f639024bd0a0deea1c688b6d5a9af1dc55971468eb7'::text;
$$;
