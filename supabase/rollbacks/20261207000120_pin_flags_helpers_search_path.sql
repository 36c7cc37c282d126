-- Reverts 20261207000120_pin_flags_helpers_search_path: the evaluator's helpers run with the
-- caller's search_path again, as 20261207000110 created them.

alter function flags.evaluate_definition(jsonb, jsonb, timestamptz) reset search_path;
alter function flags.constraint_holds(jsonb, jsonb, timestamptz) reset search_path;
alter function flags.compare_semver(text, text) reset search_path;
alter function flags.compare_identifiers(text, text) reset search_path;
alter function flags.parse_date(text) reset search_path;
alter function flags.context_text(jsonb, text, timestamptz) reset search_path;
alter function flags.normalized_hash(text, text, bigint, bigint) reset search_path;
alter function flags.murmur3_32(bytea, bigint) reset search_path;
