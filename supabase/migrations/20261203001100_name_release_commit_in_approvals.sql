-- Intent: the `promotion.approved` notification of a promotion that a release carries names
-- the release's commit (`data.git_sha`), so the workflow that the approval triggers
-- (`repository_dispatch`, kind `github`) checks out exactly the commit that was planned.
-- A BEFORE INSERT trigger on the outbox adds it; promotions outside releases are unchanged.

create or replace function ops.add_release_commit_to_approval()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  sha text;
begin
  if new.event_type = 'promotion.approved' then
    select r.git_sha into sha from ops.releases as r
    where r.promotion_id = (new.payload->'data'->>'promotion_id')::uuid
    order by r.created_at desc limit 1;
    if sha is not null then
      new.payload := jsonb_set(new.payload, '{data,git_sha}', to_jsonb(sha));
    end if;
  end if;
  return new;
end;
$$;

comment on function ops.add_release_commit_to_approval() is
  'Adds the carrying release''s commit to promotion.approved notifications (data.git_sha).';

revoke all on function ops.add_release_commit_to_approval() from public, anon, authenticated, service_role;

drop trigger if exists add_release_commit_to_approval on ops.notification_outbox;
create trigger add_release_commit_to_approval
  before insert on ops.notification_outbox
  for each row execute function ops.add_release_commit_to_approval();
