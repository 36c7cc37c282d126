import assert from "node:assert/strict";
import { join } from "node:path";
import { discoverFunctions, isFunctionFolder, verifyJwtSettings } from "./gateway_functions.ts";

Deno.test("verifyJwtSettings reads verify_jwt per function and ignores other sections", () => {
  const toml = `
project_id = "x"
[api]
port = 54321
[functions.ops]
verify_jwt = true
[functions.stripe-webhook]
verify_jwt = false
[functions.no-setting]
import_map = "./import_map.json"
`;
  assert.deepEqual(verifyJwtSettings(toml), { ops: true, "stripe-webhook": false });
});

Deno.test("verifyJwtSettings refuses a verify_jwt that is not a boolean", () => {
  assert.throws(
    () => verifyJwtSettings('[functions.ops]\nverify_jwt = "no"\n'),
    /functions\.ops\.verify_jwt is "no", expected true or false/,
  );
});

Deno.test("verifyJwtSettings refuses invalid TOML", () => {
  assert.throws(() => verifyJwtSettings("[functions\n"), /Cannot read supabase\/config\.toml/);
});

Deno.test("isFunctionFolder skips _shared, underscored and dotted folders", () => {
  assert.equal(isFunctionFolder("ops-worker"), true);
  assert.equal(isFunctionFolder("_shared"), false);
  assert.equal(isFunctionFolder("_private"), false);
  assert.equal(isFunctionFolder(".temp"), false);
});

Deno.test("discoverFunctions lists folders with an index.ts and applies config.toml", async () => {
  const root = await Deno.makeTempDir();
  try {
    const fns = join(root, "supabase", "functions");
    for (const name of ["ops", "stripe-webhook", "_shared", "no-entry"]) {
      await Deno.mkdir(join(fns, name), { recursive: true });
    }
    await Deno.writeTextFile(join(fns, "ops", "index.ts"), "");
    await Deno.writeTextFile(join(fns, "stripe-webhook", "index.ts"), "");
    await Deno.writeTextFile(join(fns, "_shared", "index.ts"), "");
    await Deno.writeTextFile(
      join(root, "supabase", "config.toml"),
      "[functions.stripe-webhook]\nverify_jwt = false\n",
    );
    assert.deepEqual(await discoverFunctions(root), [
      { name: "ops", entry: join(fns, "ops", "index.ts"), verifyJwt: true },
      { name: "stripe-webhook", entry: join(fns, "stripe-webhook", "index.ts"), verifyJwt: false },
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("discoverFunctions returns nothing when there is no functions folder", async () => {
  const root = await Deno.makeTempDir();
  try {
    assert.deepEqual(await discoverFunctions(root), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
