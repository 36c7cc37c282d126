-- Intent: the anonymization manifest (supabase/anonymize.json) covers the new
-- `memberships.cancel_at` (kept as is, like the period end): users.copy jobs name the new
-- manifest's hash, so the database's copy of that hash changes with it.

create or replace function private.users_copy_manifest_hash()
returns text
language sql
immutable
set search_path = ''
as $$
  -- SHA-256 of supabase/anonymize.json as parsed and canonicalised by _shared/users/manifest.ts.
  select '3cfad1e63637a1fb9fb6afe56ae7ef68ecb666974a8bdccf7b90dea1cce1606d'::text;
$$;
