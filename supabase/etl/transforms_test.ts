import assert from "node:assert/strict";
import { ETL_TRANSFORMS } from "./transforms.ts";

Deno.test("every listed transform has a unique id and a positive version", () => {
  const ids = ETL_TRANSFORMS.map((t) => t.id);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.includes("profiles_split_full_name"));
  assert.ok(ETL_TRANSFORMS.every((t) => Number.isInteger(t.version) && t.version > 0));
});
