import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";

Deno.test("parseDuration: units and sums", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("15m"), 900_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("250ms"), 250);
});

Deno.test("parseDuration: anything else is refused naming the text", () => {
  for (const bad of ["", "15", "m", "1d", "15 m", "-5s"]) {
    assert.throws(() => parseDuration(bad), /is not a duration/);
  }
});
