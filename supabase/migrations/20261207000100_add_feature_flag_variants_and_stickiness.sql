-- Intent: the parts of a flag definition the evaluators need beyond `targeting_rules`
-- (issue 14): `stickiness` (what a rollout bucket and a variant stick to) and `variants`
-- (weighted, with overrides). Both are definitions: they travel in promotions, while `enabled`
-- and `rollout_percent` stay per environment. The formats are in README "Feature flags" and
-- supabase/functions/_shared/flags/definition.ts (zod), which promotions check.

alter table public.feature_flags
  add column if not exists stickiness text not null default 'default'
    constraint feature_flags_stickiness_check
    check (stickiness ~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$'),
  add column if not exists variants jsonb not null default '[]'
    constraint feature_flags_variants_check
    check (jsonb_typeof(variants) = 'array');

comment on column public.feature_flags.targeting_rules is
  'JSON array of constraints that must all hold ({attribute, op, values | value, inverted, case_insensitive}); readable by every signed-in user, so no personal data.';
comment on column public.feature_flags.stickiness is
  'What rollout buckets and variants stick to: default (targeting_key, else session_id) or a context field.';
comment on column public.feature_flags.variants is
  'JSON array of variants ({name, weight, payload, overrides}), chosen by Unleash''s variant hashing.';
