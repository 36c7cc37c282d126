-- Reverts 20261207000100_add_feature_flag_variants_and_stickiness: drops the two columns and
-- restores the comment of targeting_rules.
-- stagecoach: loses-data the flags' stickiness and variants

alter table public.feature_flags
  drop column if exists variants,
  drop column if exists stickiness;

comment on column public.feature_flags.targeting_rules is
  'JSON array of rules evaluated by the app; readable by every signed-in user, so no personal data.';
