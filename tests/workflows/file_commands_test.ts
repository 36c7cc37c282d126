import assert from "node:assert/strict";
import { FileCommandError, parseKeyValueFile, parsePathFile } from "./file_commands.ts";

Deno.test("parseKeyValueFile reads name=value lines, later ones winning, = kept in values", () => {
  assert.deepEqual(parseKeyValueFile("a=1\n\nb=x=y\r\na=2\n", "GITHUB_OUTPUT"), {
    a: "2",
    b: "x=y",
  });
});

Deno.test("parseKeyValueFile reads the name<<DELIMITER multi-line form", () => {
  const text = "plan<<ghadelimiter_1\n## Plan\n\n- a=b\nghadelimiter_1\nnext=1\n";
  assert.deepEqual(parseKeyValueFile(text, "GITHUB_OUTPUT"), {
    plan: "## Plan\n\n- a=b",
    next: "1",
  });
  assert.deepEqual(parseKeyValueFile("empty<<EOF\nEOF\n", "GITHUB_ENV"), { empty: "" });
});

Deno.test("parseKeyValueFile refuses malformed files, naming the file and line", () => {
  const cases: [string, RegExp][] = [
    ["=1\n", /GITHUB_ENV: line 1 has no name/],
    ["a<<EOF\nnever closed\n", /no line EOF closes a/],
    ["<<EOF\nEOF\n", /lacks a name or delimiter/],
    ["just text\n", /line 1 is not name=value/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseKeyValueFile(text, "GITHUB_ENV"), (err: Error) => {
      return err instanceof FileCommandError && message.test(err.message);
    });
  }
});

Deno.test("parsePathFile keeps non-empty lines in order", () => {
  assert.deepEqual(parsePathFile("/a\n\n/b\n"), ["/a", "/b"]);
});
