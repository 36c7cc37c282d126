import assert from "node:assert/strict";
import { renderConsoleIndex } from "./build.ts";
import { consoleHandler } from "./serve.ts";

const config = {
  env: "staging" as const,
  supabaseUrl: "https://x.test",
  anonKey: "</script><script>alert(1)</script>",
  basePath: "/console/",
};

Deno.test("renderConsoleIndex embeds the settings so no value can close the script element", () => {
  const html = renderConsoleIndex(
    '<script id="console-config" type="application/json">/*CONSOLE_CONFIG*/</script>',
    config,
  );
  assert.ok(!html.includes("</script><script>"));
  const json = html.match(/json">(.*)<\/script>$/)![1];
  const { basePath: _, ...embedded } = config;
  assert.deepEqual(JSON.parse(json), embedded);
  assert.throws(() => renderConsoleIndex("<html>", config), /lacks/);
});

Deno.test("renderConsoleIndex points the script and style at the base path", () => {
  const html = renderConsoleIndex(
    '<script type="application/json">/*CONSOLE_CONFIG*/</script><script src="/*CONSOLE_BASE*/console.js"></script>',
    config,
  );
  assert.match(html, /src="\/console\/console\.js"/);
});

Deno.test("consoleHandler serves the built files with a CSP naming the API, nothing else", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/index.html`, "<p>hi</p>");
    const handle = consoleHandler(dir, "http://127.0.0.1:54321");
    const index = await handle(new Request("http://c.test/"));
    assert.equal(index.status, 200);
    assert.equal(await index.text(), "<p>hi</p>");
    assert.match(
      index.headers.get("content-security-policy")!,
      /connect-src http:\/\/127\.0\.0\.1:54321;/,
    );
    assert.match(index.headers.get("content-security-policy")!, /script-src 'self'/);
    for (const path of ["/missing.js", "/../etc/passwd", "/secret.txt"]) {
      const res = await handle(new Request(`http://c.test${path}`));
      await res.body?.cancel();
      assert.equal(res.status, 404, path);
    }
    const post = await handle(new Request("http://c.test/", { method: "POST" }));
    await post.body?.cancel();
    assert.equal(post.status, 405);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
