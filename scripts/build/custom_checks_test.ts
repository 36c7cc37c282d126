import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CUSTOM_CHECKS } from "../../supabase/functions/_shared/validation/custom_checks.generated.ts";
import {
  GENERATED_MODULE,
  readCustomCheckFiles,
  renderCustomChecksModule,
} from "./custom_checks.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("custom_checks.generated.ts holds exactly supabase/validations/*.sql (run `deno task build`)", async () => {
  const files = await readCustomCheckFiles(ROOT);
  assert.ok(files.length > 0, "expected at least one check in supabase/validations");
  assert.deepEqual(
    [...CUSTOM_CHECKS],
    files,
    `${GENERATED_MODULE} is stale: run \`deno task build\` and commit it`,
  );
});

Deno.test("renderCustomChecksModule keeps every character of the SQL", async () => {
  const checks = [{ name: "odd", sql: "select '`${x}`' as \"q\" -- \\ é\n" }];
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.ts`;
    await Deno.writeTextFile(path, renderCustomChecksModule(checks));
    const { CUSTOM_CHECKS: loaded } = await import(path);
    assert.deepEqual(loaded, checks);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readCustomCheckFiles finds nothing when the folder is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await readCustomCheckFiles(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
