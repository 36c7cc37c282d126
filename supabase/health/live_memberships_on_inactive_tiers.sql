-- Live memberships (trialing, active, past due) whose tier is no longer active: members who
-- pay for a tier the release retired. A release must never strand one.
-- threshold: 0
-- direction: above
select count(*)
from public.memberships as m
join public.membership_tiers as t on t.id = m.tier_id
where m.status in ('trialing', 'active', 'past_due')
  and not t.active;
