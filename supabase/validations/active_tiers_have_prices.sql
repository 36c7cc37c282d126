-- Every active tier can be bought: it has at least one active price.
-- A validation check: the rows this query returns are the offenders; none means it passes.
select t.slug
from public.membership_tiers as t
where t.active
  and not exists (
    select 1 from public.tier_prices as p where p.tier_id = t.id and p.active
  )
