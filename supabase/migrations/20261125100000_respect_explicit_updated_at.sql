-- Intent: let a statement that sets `updated_at` itself keep that value.
--
-- A rollback restores before-images byte for byte, timestamps included; the shared trigger
-- used to overwrite `updated_at` with now() on every update. It now stamps now() only when
-- the statement left `updated_at` unchanged, which is what every ordinary update does.

create or replace function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.updated_at is not distinct from old.updated_at then
    new.updated_at := now();
  end if;
  return new;
end;
$$;

comment on function private.set_updated_at() is
  'BEFORE UPDATE trigger: sets updated_at to now() unless the statement set it explicitly.';
