-- Reverts 20261207000110_create_flags_evaluate: drops the flags schema's functions, then the
-- schema (it holds no data).

drop function if exists flags.evaluate_all(jsonb, text[]);
drop function if exists flags.evaluate(text, jsonb);
drop function if exists flags.evaluate_definition(jsonb, jsonb, timestamptz);
drop function if exists flags.constraint_holds(jsonb, jsonb, timestamptz);
drop function if exists flags.compare_semver(text, text);
drop function if exists flags.compare_identifiers(text, text);
drop function if exists flags.parse_date(text);
drop function if exists flags.context_text(jsonb, text, timestamptz);
drop function if exists flags.normalized_hash(text, text, bigint, bigint);
drop function if exists flags.murmur3_32(bytea, bigint);
drop schema if exists flags;
