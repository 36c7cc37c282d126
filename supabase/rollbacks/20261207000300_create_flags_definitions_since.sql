-- Reverts 20261207000300_create_flags_definitions_since: drops the function (it holds no data).

drop function if exists flags.definitions_since(text);
