-- Development seed: a realistic membership catalog, application config, feature flags and a
-- few fake users with profiles and memberships. Development only (`db push --include-seed`).
-- Re-runnable: every insert skips rows that already exist; rows are found by natural key.
-- All seeded users share the password `password123`.

-- Tiers ---------------------------------------------------------------------------------

insert into public.membership_tiers (slug, name, description, sort_order, active, metadata)
values
  ('free', 'Free', 'Try the product with a personal workspace.', 0, true,
   '{"highlight": false, "badge": null, "cta": {"label": "Start for free", "href": "/signup"}}'),
  ('pro', 'Pro', 'For professionals who need more projects and priority help.', 10, true,
   '{"highlight": true, "badge": "Most popular", "cta": {"label": "Go Pro", "href": "/checkout?tier=pro"}}'),
  ('team', 'Team', 'Shared workspaces, seats and SSO for growing teams.', 20, true,
   '{"highlight": false, "badge": null, "cta": {"label": "Start a team", "href": "/checkout?tier=team"}, "min_seats": 3}'),
  ('legacy-plus', 'Plus (legacy)', 'Retired plan kept for existing members.', 99, false,
   '{"highlight": false, "retired_at": "2026-01-31", "migrate_to": "pro"}')
on conflict (slug) do nothing;

insert into public.tier_features (tier_id, feature_key, value)
select t.id, f.feature_key, f.value
from (
  values
    ('free', 'projects.max', '3'::jsonb),
    ('free', 'storage.gb', '1'),
    ('free', 'support.level', '"community"'),
    ('free', 'sso', 'false'),
    ('pro', 'projects.max', '50'),
    ('pro', 'storage.gb', '100'),
    ('pro', 'support.level', '"priority"'),
    ('pro', 'sso', 'false'),
    ('pro', 'exports.formats', '["csv", "xlsx", "pdf"]'),
    ('team', 'projects.max', 'null'),
    ('team', 'storage.gb', '1000'),
    ('team', 'support.level', '"dedicated"'),
    ('team', 'sso', 'true'),
    ('team', 'seats', '{"included": 3, "max": 100, "extra_seat_price_key": "team_seat_monthly"}'),
    ('team', 'exports.formats', '["csv", "xlsx", "pdf", "parquet"]'),
    ('legacy-plus', 'projects.max', '10'),
    ('legacy-plus', 'storage.gb', '20'),
    ('legacy-plus', 'support.level', '"email"')
) as f (tier_slug, feature_key, value)
join public.membership_tiers as t on t.slug = f.tier_slug
on conflict (tier_id, feature_key) do nothing;

-- Amounts in minor units. stripe_price_id stays null: it is set per environment by the
-- Stripe sync, never seeded or promoted.
insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, interval_count, active)
select t.id, p.lookup_key, p.currency, p.unit_amount, p.billing_interval, p.interval_count, p.active
from (
  values
    ('free', 'free_monthly', 'usd', 0::bigint, 'month', 1, true),
    ('pro', 'pro_monthly', 'usd', 1200, 'month', 1, true),
    ('pro', 'pro_yearly', 'usd', 12000, 'year', 1, true),
    ('pro', 'pro_monthly_eur', 'eur', 1100, 'month', 1, true),
    ('team', 'team_monthly', 'usd', 4900, 'month', 1, true),
    ('team', 'team_yearly', 'usd', 49000, 'year', 1, true),
    ('team', 'team_seat_monthly', 'usd', 900, 'month', 1, true),
    ('legacy-plus', 'legacy_plus_monthly', 'usd', 900, 'month', 1, false),
    ('legacy-plus', 'legacy_plus_quarterly', 'usd', 2400, 'month', 3, false)
) as p (tier_slug, lookup_key, currency, unit_amount, billing_interval, interval_count, active)
join public.membership_tiers as t on t.slug = p.tier_slug
on conflict (lookup_key) do nothing;

-- Application config ----------------------------------------------------------------------
-- No secrets here: secret entries hold ciphertext written by the engine.

insert into public.app_config (key, value, description, schema_version, env_specific)
values
  ('site_url', '"http://127.0.0.1:3000"',
   'Public URL of the web app; differs per environment.', 1, true),
  ('billing.trial_days', '14', 'Length of the free trial of paid tiers.', 1, false),
  ('billing.grace_period', '{"days": 7, "reminders": [1, 3, 6], "downgrade_to": "free"}',
   'What happens when a payment fails.', 2, false),
  ('billing.checkout', '{"allow_promotion_codes": true, "collect_tax_id": false, "currencies": ["usd", "eur"]}',
   'Stripe Checkout options.', 1, false),
  ('email.sender', '{"name": "Stagecoach Demo", "address": "hello@example.com", "reply_to": "support@example.com"}',
   'Sender of transactional email.', 1, false),
  ('email.templates', '{"welcome": {"subject": "Welcome aboard", "enabled": true}, "payment_failed": {"subject": "Your payment failed", "enabled": true}, "renewal_reminder": {"subject": "Your plan renews soon", "days_before": 7, "enabled": false}}',
   'Transactional email templates and their switches.', 3, false),
  ('auth.password_policy', '{"min_length": 12, "require": {"digit": true, "symbol": false, "mixed_case": true}, "breached_check": true}',
   'Password rules shown at sign-up.', 1, false),
  ('limits.api', '{"requests_per_minute": {"free": 60, "pro": 600, "team": 3000}, "burst": 2.5}',
   'API rate limits per tier.', 1, false),
  ('ui.pricing_page', '{"default_interval": "month", "show_yearly_savings": true, "tier_order": ["free", "pro", "team"]}',
   'Pricing page layout.', 1, false),
  ('onboarding.steps', '[{"key": "profile", "required": true}, {"key": "first_project", "required": true}, {"key": "invite_team", "required": false}]',
   'Onboarding checklist, in order.', 1, false),
  ('support.contact', '{"email": "support@example.com", "hours": "Mon-Fri 09:00-17:00 CET", "status_page": "https://status.example.com"}',
   'Where users get help.', 1, false)
on conflict (key) do nothing;

-- Feature flags -------------------------------------------------------------------------------

insert into public.feature_flags (key, description, enabled, rollout_percent, targeting_rules)
values
  ('new_checkout', 'Embedded Stripe Checkout instead of the hosted page.', true, 25,
   '[{"attribute": "tier", "op": "in", "values": ["pro", "team"]}]'),
  ('dark_mode', 'Dark theme toggle in settings.', true, 100, '[]'),
  ('team_invites', 'Invite teammates by email from the Team tier.', false, 0,
   '[{"attribute": "tier", "op": "eq", "value": "team"}]'),
  ('beta_dashboard', 'The redesigned dashboard, for beta testers.', true, 10,
   '[{"attribute": "segment", "op": "eq", "value": "beta_testers"}]'),
  ('referral_program', 'Give a month, get a month.', false, 0, '[]')
on conflict (key) do nothing;

-- Users ----------------------------------------------------------------------------------------
-- As GoTrue stores them: bcrypt password, confirmed email, empty token strings, and one
-- `email` identity per user. The profile is created by the auth.users trigger.

insert into auth.users (
  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
  confirmation_token, recovery_token, email_change_token_new, email_change
)
select
  '00000000-0000-0000-0000-000000000000', u.id, 'authenticated', 'authenticated', u.email,
  extensions.crypt('password123', extensions.gen_salt('bf')), now(),
  '{"provider": "email", "providers": ["email"]}', u.meta, now(), now(),
  '', '', '', ''
from (
  values
    ('a1111111-1111-4111-8111-111111111111'::uuid, 'alice@example.com',
     '{"display_name": "Alice", "full_name": "Alice Andersen"}'::jsonb),
    ('b2222222-2222-4222-8222-222222222222', 'bob@example.com',
     '{"display_name": "Bob", "full_name": "Bob Brown"}'),
    ('c3333333-3333-4333-8333-333333333333', 'carol@example.com',
     '{"display_name": "Carol", "full_name": "Carol Castillo"}'),
    ('d4444444-4444-4444-8444-444444444444', 'dave@example.com',
     '{"display_name": "Dave", "full_name": "Dave Dubois"}'),
    ('e5555555-5555-4555-8555-555555555555', 'ops-admin@example.com',
     '{"display_name": "Ops Admin"}')
) as u (id, email, meta)
on conflict (id) do nothing;

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
select
  u.id::text, u.id,
  jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true, 'phone_verified', false),
  'email', now(), now(), now()
from auth.users as u
where u.id in (
  'a1111111-1111-4111-8111-111111111111', 'b2222222-2222-4222-8222-222222222222',
  'c3333333-3333-4333-8333-333333333333', 'd4444444-4444-4444-8444-444444444444',
  'e5555555-5555-4555-8555-555555555555'
)
on conflict (provider_id, provider) do nothing;

-- Profile details beyond what the trigger fills; setting the same values again is harmless.
update public.profiles as p
set phone = d.phone,
    date_of_birth = d.date_of_birth,
    address = d.address,
    marketing_opt_in = d.marketing_opt_in
from (
  values
    ('a1111111-1111-4111-8111-111111111111'::uuid, '+4520000001', date '1988-04-12',
     '{"line1": "Nørrebrogade 1", "city": "København", "postal_code": "2200", "country": "DK"}'::jsonb, true),
    ('b2222222-2222-4222-8222-222222222222', '+442070000002', date '1992-11-03',
     '{"line1": "1 Example Street", "city": "London", "postal_code": "N1 9GU", "country": "GB"}', false),
    ('c3333333-3333-4333-8333-333333333333', '+34910000003', date '1979-07-21',
     '{"line1": "Calle Mayor 3", "city": "Madrid", "postal_code": "28013", "country": "ES"}', true),
    ('d4444444-4444-4444-8444-444444444444', '+33100000004', date '2001-02-28',
     '{"line1": "4 Rue de Rivoli", "city": "Paris", "postal_code": "75004", "country": "FR"}', false)
) as d (id, phone, date_of_birth, address, marketing_opt_in)
where p.id = d.id;

-- Memberships: Alice is Pro, Bob is Free, Carol's Team payment is past due, Dave cancelled Pro
-- and is back on Free.
insert into public.memberships (
  id, user_id, tier_id, status, stripe_customer_id, stripe_subscription_id,
  current_period_end, cancel_at_period_end
)
select m.id, m.user_id, t.id, m.status::public.membership_status, m.customer, m.subscription,
       m.period_end, m.cancel_at_period_end
from (
  values
    ('f1000000-0000-4000-8000-000000000001'::uuid, 'a1111111-1111-4111-8111-111111111111'::uuid, 'pro',
     'active', 'cus_devAlice0001', 'sub_devAlice0001', now() + interval '21 days', false),
    ('f1000000-0000-4000-8000-000000000002', 'b2222222-2222-4222-8222-222222222222', 'free',
     'active', 'cus_devBob000002', null, null, false),
    ('f1000000-0000-4000-8000-000000000003', 'c3333333-3333-4333-8333-333333333333', 'team',
     'past_due', 'cus_devCarol0003', 'sub_devCarol0003', now() - interval '2 days', false),
    ('f1000000-0000-4000-8000-000000000004', 'd4444444-4444-4444-8444-444444444444', 'pro',
     'canceled', 'cus_devDave00004', 'sub_devDave00004', now() - interval '40 days', true),
    ('f1000000-0000-4000-8000-000000000005', 'd4444444-4444-4444-8444-444444444444', 'free',
     'active', 'cus_devDave00004', null, null, false)
) as m (id, user_id, tier_slug, status, customer, subscription, period_end, cancel_at_period_end)
join public.membership_tiers as t on t.slug = m.tier_slug
on conflict do nothing;

-- Stagecoach's own admin in development, so the demo can plan and approve locally.
insert into ops.members (user_id, role)
values ('e5555555-5555-4555-8555-555555555555', 'admin')
on conflict (user_id) do nothing;
