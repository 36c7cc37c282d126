import assert from "node:assert/strict";
import { backupsToRemove, newBackupId, parseManifest, repairPlan } from "./manifest.ts";

Deno.test("newBackupId sorts by time", () => {
  assert.equal(
    newBackupId(new Date("2026-12-02T09:30:05.123Z"), "a1b2c3"),
    "20261202T093005123Z-a1b2c3",
  );
});

Deno.test("backupsToRemove keeps the newest n", () => {
  const ids = [
    "20261203T000000000Z-cccccc",
    "20261201T000000000Z-aaaaaa",
    "20261202T000000000Z-bbbbbb",
  ];
  assert.deepEqual(backupsToRemove(ids, 2), ["20261201T000000000Z-aaaaaa"]);
  assert.deepEqual(backupsToRemove(ids, 7), []);
});

Deno.test("repairPlan marks what the history lacks applied and what it has extra reverted", () => {
  assert.deepEqual(repairPlan(["1", "2"], ["1", "3"]), { applied: ["2"], reverted: ["3"] });
  assert.deepEqual(repairPlan(["1"], ["1"]), { applied: [], reverted: [] });
});

Deno.test("parseManifest names the field that is wrong", () => {
  assert.throws(() => parseManifest("{"), /manifest.json is not JSON/);
  assert.throws(() => parseManifest('{"format": "x"}'), /manifest.json: format/);
});
