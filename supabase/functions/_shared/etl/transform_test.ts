import assert from "node:assert/strict";
import { defineTransform, findTransform, previewRows, type Transform } from "./transform.ts";

const upper: Transform = {
  id: "upper_names",
  version: 1,
  description: "Upper-case display names",
  table: "public.profiles",
  key: "id",
  reads: ["display_name"],
  writes: ["display_name"],
  guard: "display_name <> upper(display_name)",
  transform: (row) => ({ display_name: String(row.display_name).toUpperCase() }),
};

Deno.test("defineTransform accepts a well-formed transform", () => {
  assert.equal(defineTransform(upper), upper);
});

Deno.test("defineTransform names what is wrong", () => {
  assert.throws(
    () => defineTransform({ ...upper, table: "profiles", version: 0 }),
    /^Error: Cannot load ETL transform upper_names: version: .*; table: /,
  );
  assert.throws(() => defineTransform({ ...upper, guard: "true; delete from x" }), /guard: no ';'/);
  assert.throws(
    () => defineTransform({ ...upper, writes: ["id"] }),
    /it may not write its key id/,
  );
});

Deno.test("previewRows shows before and after without a database", () => {
  assert.deepEqual(previewRows(upper, [{ id: 1, display_name: "ada" }]), [
    { key: 1, before: { display_name: "ada" }, after: { display_name: "ADA" } },
  ]);
});

Deno.test("findTransform lists the known ids when the id is unknown", () => {
  assert.equal(findTransform([upper], "upper_names"), upper);
  assert.throws(
    () => findTransform([upper], "nope"),
    /Cannot find ETL transform "nope": known transforms are upper_names/,
  );
});
