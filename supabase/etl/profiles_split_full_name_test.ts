import assert from "node:assert/strict";
import transform, { splitFullName } from "./profiles_split_full_name.ts";

Deno.test("splitFullName splits common names", () => {
  const cases: [string, string | null, string | null][] = [
    ["Ada Lovelace", "Ada", "Lovelace"],
    ["  Grace   Brewster  Hopper ", "Grace Brewster", "Hopper"],
    ["Lovelace, Ada", "Ada", "Lovelace"],
    ["Ludwig van Beethoven", "Ludwig", "van Beethoven"],
    ["Vincent van der Berg", "Vincent", "van der Berg"],
    ["Maria de la Cruz", "Maria", "de la Cruz"],
    ["Dr. Jane Doe", "Jane", "Doe"],
    ["Martin Luther King Jr.", "Martin Luther", "King Jr."],
    ["John Smith, PhD", "John", "Smith PhD"],
    ["Madonna", "Madonna", null],
    ["山田太郎", "山田太郎", null],
    ["Van Morrison", "Van", "Morrison"],
  ];
  for (const [full, given, family] of cases) {
    assert.deepEqual(splitFullName(full), { given_name: given, family_name: family }, full);
  }
});

Deno.test("splitFullName leaves empty names alone and keeps parts within 100 characters", () => {
  assert.equal(splitFullName(null), null);
  assert.equal(splitFullName("   "), null);
  const long = splitFullName(`${"A".repeat(150)} ${"B".repeat(150)}`)!;
  assert.equal(long.given_name!.length, 100);
  assert.equal(long.family_name!.length, 100);
});

Deno.test("the transform declares its table, guard and columns, and writes both parts", () => {
  assert.equal(transform.id, "profiles_split_full_name");
  assert.equal(transform.table, "public.profiles");
  assert.deepEqual(transform.writes, ["given_name", "family_name"]);
  assert.match(transform.guard, /given_name is null and family_name is null/);
  assert.deepEqual(transform.transform({ id: "x", full_name: "Ada Lovelace" }), {
    given_name: "Ada",
    family_name: "Lovelace",
  });
  assert.equal(transform.transform({ id: "x", full_name: "" }), null);
});
