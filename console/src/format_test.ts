import assert from "node:assert/strict";
import { JsonNumber, parseJson } from "../../supabase/functions/_shared/json/lossless.ts";
import { fieldDiffs, formatMoney, groupByKind, prettyJson, type ShownChange } from "./format.ts";

Deno.test("prettyJson prints numbers exactly as written, indented", () => {
  assert.equal(
    prettyJson(parseJson('{"big": 12345678901234567890, "r": 1.50, "a": [1e3]}')),
    '{\n  "big": 12345678901234567890,\n  "r": 1.50,\n  "a": [\n    1e3\n  ]\n}',
  );
});

Deno.test("formatMoney reads minor units exactly, by the currency's digits", () => {
  assert.equal(formatMoney(new JsonNumber("1999"), "usd", "en-US"), "$19.99");
  assert.equal(formatMoney(5, "usd", "en-US"), "$0.05");
  assert.equal(formatMoney(new JsonNumber("-250"), "eur", "en-US"), "-€2.50");
  assert.equal(formatMoney(new JsonNumber("500"), "jpy", "en-US"), "¥500");
  assert.equal(
    formatMoney(new JsonNumber("1234567890123456789"), "usd", "en-US"),
    "$12,345,678,901,234,567.89",
  );
  assert.equal(formatMoney(new JsonNumber("100"), "zzz1", "en-US"), "100 ZZZ1");
});

const change = (over: Partial<ShownChange>): ShownChange => ({
  kind: "tier_prices",
  key: "pro/pro_monthly",
  action: "update",
  risk: "high",
  reasons: [],
  before: null,
  after: null,
  ...over,
});

Deno.test("fieldDiffs shows money as money and only the fields that changed", () => {
  const diffs = fieldDiffs(change({
    before: { currency: "usd", unit_amount: new JsonNumber("1000"), active: true },
    after: { currency: "usd", unit_amount: new JsonNumber("1500"), active: true },
  }));
  assert.deepEqual(diffs, [
    { name: "unit_amount", before: "$10.00", after: "$15.00", secret: false },
  ]);
});

Deno.test("fieldDiffs marks a secret's fingerprint; a changed currency is shown", () => {
  const secret = fieldDiffs(change({
    kind: "config",
    action: "create",
    after: { key: "s", is_secret: true, value: null, secret_fingerprint: "sha256:ab12" },
  }));
  assert.deepEqual(secret.find((d) => d.name === "secret_fingerprint"), {
    name: "secret_fingerprint",
    before: null,
    after: "sha256:ab12",
    secret: true,
  });
  const moved = fieldDiffs(change({
    before: { currency: "usd", unit_amount: 1000 },
    after: { currency: "eur", unit_amount: 1000 },
  }));
  assert.deepEqual(moved.map((d) => d.name), ["unit_amount", "currency"]);
});

Deno.test("groupByKind keeps the plan's order", () => {
  const groups = groupByKind([{ kind: "tiers" }, { kind: "config" }, { kind: "tiers" }]);
  assert.deepEqual(groups.map(([k, cs]) => [k, cs.length]), [["tiers", 2], ["config", 1]]);
});
