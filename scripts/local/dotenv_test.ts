import assert from "node:assert/strict";
import { join } from "node:path";
import { parseDotenv, readDotenvFile } from "./dotenv.ts";

Deno.test("parseDotenv reads plain, exported and empty values", () => {
  assert.deepEqual(parseDotenv("A=1\nexport B=two\nC=\n"), { A: "1", B: "two", C: "" });
});

Deno.test("parseDotenv skips blank lines and comments, and strips inline comments", () => {
  const text = "# header\n\nA=1 # one\nB=x#not-a-comment\n   # indented comment\n";
  assert.deepEqual(parseDotenv(text), { A: "1", B: "x#not-a-comment" });
});

Deno.test("parseDotenv keeps single-quoted values literally", () => {
  assert.deepEqual(parseDotenv(`A='a\\nb # c'`), { A: "a\\nb # c" });
});

Deno.test("parseDotenv unescapes double-quoted values and allows a trailing comment", () => {
  assert.deepEqual(parseDotenv(`A="line1\\nline2 \\"q\\" \\\\" # note`), {
    A: 'line1\nline2 "q" \\',
  });
});

Deno.test("parseDotenv reads a double-quoted value spanning lines", () => {
  const text = 'KEY="-----BEGIN-----\nabc\n-----END-----"\nNEXT=1\n';
  assert.deepEqual(parseDotenv(text), { KEY: "-----BEGIN-----\nabc\n-----END-----", NEXT: "1" });
});

Deno.test("parseDotenv keeps the last value of a repeated key and does not expand variables", () => {
  assert.deepEqual(parseDotenv("A=1\nA=${B}\r\n"), { A: "${B}" });
});

Deno.test("parseDotenv names the line that is not KEY=value", () => {
  assert.throws(() => parseDotenv("A=1\njust text\n"), /line 2 is not KEY=value/);
  assert.throws(() => parseDotenv("1A=1"), /line 1 is not KEY=value/);
});

Deno.test("parseDotenv refuses an unclosed quote", () => {
  assert.throws(() => parseDotenv('A="open\nB=1'), /line 1 is never closed/);
});

Deno.test("readDotenvFile reads a file and treats a missing file as empty", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "functions.env");
    await Deno.writeTextFile(path, "STRIPE_SECRET_KEY=sk_test_1\n");
    assert.deepEqual(await readDotenvFile(path), { STRIPE_SECRET_KEY: "sk_test_1" });
    assert.deepEqual(await readDotenvFile(join(dir, "missing.env")), {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readDotenvFile names the file it cannot parse", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "bad.env");
    await Deno.writeTextFile(path, "oops\n");
    await assert.rejects(readDotenvFile(path), (err: Error) => err.message.includes(path));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
