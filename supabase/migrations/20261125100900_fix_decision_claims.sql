-- Intent: fix ops.apply_decision(): it cleared the caller's claims with '' while deciding,
-- and auth.uid() casts `request.jwt.claims` to jsonb, which fails on an empty string. Clear
-- them with '{}' (no subject, no role: the database's own transition) and restore them after.

create or replace function ops.apply_decision()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  approvals integer;
  needed integer;
  caller_claims text := current_setting('request.jwt.claims', true);
begin
  perform ops.append_audit('approval.' || new.decision, 'promotion', new.promotion_id::text,
                           jsonb_build_object('plan_hash', new.plan_hash, 'comment', new.comment),
                           (select p.target_env from ops.promotions as p where p.id = new.promotion_id));
  -- The transitions below are the database's own: make them without the caller's claims,
  -- then give the claims back for the rest of the caller's transaction.
  perform set_config('request.jwt.claims', '{}', true);
  if new.decision = 'reject' then
    update ops.promotions set status = 'rejected' where id = new.promotion_id;
  else
    select count(*) into approvals from ops.approvals as a
    where a.promotion_id = new.promotion_id and a.decision = 'approve';
    select p.required_approvals into needed from ops.promotions as p where p.id = new.promotion_id;
    if approvals >= needed then
      update ops.promotions set status = 'approved' where id = new.promotion_id;
    end if;
  end if;
  perform set_config('request.jwt.claims', coalesce(nullif(caller_claims, ''), '{}'), true);
  return null;
end;
$$;

