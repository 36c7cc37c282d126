import assert from "node:assert/strict";
import { join } from "node:path";
import { buildStatusPage, renderIndex } from "./build.ts";

const VARS = {
  STATUS_ENV: "staging",
  STATUS_FUNCTIONS_URL: "https://ref.supabase.co/functions/v1",
  STATUS_ANON_KEY: "anon-key",
};

Deno.test("buildStatusPage writes index.html with the settings and a bundled status.js", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "status-page-" });
  try {
    await buildStatusPage(VARS, { outDir });
    const html = await Deno.readTextFile(join(outDir, "index.html"));
    assert.match(html, /"functionsUrl":"https:\/\/ref\.supabase\.co\/functions\/v1"/);
    const js = await Deno.readTextFile(join(outDir, "status.js"));
    assert.match(js, /ops\/health/);
    assert.doesNotMatch(js, /^import /m, "bundled: no imports left for the browser to resolve");
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("renderIndex escapes < so a value cannot close the script element", () => {
  const html = renderIndex("<script>/*STATUS_CONFIG*/</script>", {
    env: "staging",
    functionsUrl: "https://x.test/functions/v1",
    anonKey: "</script><script>alert(1)",
  });
  assert.equal(html.match(/<\/script>/g)?.length, 1);
  assert.throws(() => renderIndex("<p>no placeholder</p>", JSON.parse("{}")), /placeholder|lacks/);
});
