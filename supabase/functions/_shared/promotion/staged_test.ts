import assert from "node:assert/strict";
import { JsonNumber, parseJson } from "../json/lossless.ts";
import { copyText, copyValue } from "./staged.ts";

Deno.test("copyValue writes what jsonb_to_recordset would read, in COPY's text format", () => {
  assert.equal(copyValue(null, "text"), "\\N");
  assert.equal(copyValue(undefined, "jsonb"), "\\N");
  assert.equal(copyValue("plain", "text"), "plain");
  assert.equal(copyValue("a\tb\nc\rd\\e", "text"), "a\\tb\\nc\\rd\\\\e");
  assert.equal(copyValue(new JsonNumber("9007199254740993"), "bigint"), "9007199254740993");
  assert.equal(copyValue(true, "boolean"), "true");
  // jsonb columns get canonical JSON, exact numbers and escapes included.
  assert.equal(
    copyValue(parseJson('{"b":"x\\ny","a":12345678901234567890.10}'), "jsonb"),
    '{"a":12345678901234567890.10,"b":"x\\\\ny"}',
  );
  assert.equal(copyValue("a string", "jsonb"), '"a string"');
});

Deno.test("copyText writes one line per record, columns in the order given", () => {
  const text = copyText(
    [{ name: "key", type: "text" }, { name: "value", type: "jsonb" }, {
      name: "n",
      type: "integer",
    }],
    [
      { key: "a.b", value: parseJson("[1,null]"), n: new JsonNumber("1") },
      { key: "c", value: null, n: new JsonNumber("2") },
    ],
  );
  assert.equal(text, "a.b\t[1,null]\t1\nc\t\\N\t2\n");
});
