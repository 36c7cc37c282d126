-- Intent: every function of the `flags` schema runs with a fixed, empty search_path, as
-- Supabase's database linter asks (`function_search_path_mutable`, a WARN in the dashboard's
-- Security Advisor and in `tests/splinter_test.ts`).
--
-- 20261207000110 left the evaluator's helpers without a `set search_path` clause for speed (a
-- SET costs a GUC save and restore on every call and stops SQL functions from being inlined).
-- Measured on our 2-core machine, quiet, 20,000 evaluations of the bench's flag through
-- `flags.evaluate_definition`: 1.08 s without the clause, 1.88–1.93 s with it (94 µs each). We
-- take the cost: a hosted project must not carry eight linter warnings for every install, and the
-- helpers already call only qualified `flags.*` functions and `pg_catalog` built-ins, so an empty
-- path changes no result (the equivalence and Unleash specification tests prove it).
-- Revert: supabase/rollbacks/20261207000120_pin_flags_helpers_search_path.sql.

alter function flags.murmur3_32(bytea, bigint) set search_path = '';
alter function flags.normalized_hash(text, text, bigint, bigint) set search_path = '';
alter function flags.context_text(jsonb, text, timestamptz) set search_path = '';
alter function flags.parse_date(text) set search_path = '';
alter function flags.compare_identifiers(text, text) set search_path = '';
alter function flags.compare_semver(text, text) set search_path = '';
alter function flags.constraint_holds(jsonb, jsonb, timestamptz) set search_path = '';
alter function flags.evaluate_definition(jsonb, jsonb, timestamptz) set search_path = '';
