import assert from "node:assert/strict";
import { JsonNumber } from "../../supabase/functions/_shared/json/lossless.ts";
import { parseExact } from "./api.ts";
import { prettyJson } from "./format.ts";

Deno.test("parseExact keeps numbers a double holds as numbers, the rest as their text", () => {
  const v = parseExact(
    '{"n": 3, "amount": 1999, "big": 12345678901234567890, "r": 1.50}',
  ) as Record<string, unknown>;
  assert.equal(v.n, 3);
  assert.equal(v.amount, 1999);
  assert.ok(v.big instanceof JsonNumber);
  assert.equal((v.big as JsonNumber).text, "12345678901234567890");
  assert.equal((v.r as JsonNumber).text, "1.50");
  assert.equal(
    prettyJson(v as never),
    '{\n  "n": 3,\n  "amount": 1999,\n  "big": 12345678901234567890,\n  "r": 1.50\n}',
  );
});
