import assert from "node:assert/strict";
import {
  canonicalJson,
  contentHash,
  jsonEqual,
  JsonNumber,
  type JsonObject,
  parseJson,
  toJsonValue,
} from "./lossless.ts";

const TRICKY = '{"big": 123456789012345678901234567890, "dec": 0.1000000000000000000000001, ' +
  '"neg": -0.0, "exp": 1e400, "uni": "é😀\\u0000\\n", "deep": [[[[[[[[[[{"z": 9007199254740993}]]]]]]]]]]}';

Deno.test("parseJson and canonicalJson keep every number exactly", () => {
  const out = canonicalJson(parseJson(TRICKY));
  assert.match(out, /"big":123456789012345678901234567890/);
  assert.match(out, /"dec":0\.1000000000000000000000001/);
  assert.match(out, /"neg":-0\.0/);
  assert.match(out, /"exp":1e400/);
  assert.match(out, /"z":9007199254740993/);
  assert.deepEqual(JSON.parse(out).uni, "é😀\u0000\n");
});

Deno.test("canonicalJson sorts keys at every depth and drops whitespace", () => {
  assert.equal(
    canonicalJson(parseJson('{ "b": {"y": 1, "x": [2, {"d": 1, "c": 2}]}, "a": null }')),
    '{"a":null,"b":{"x":[2,{"c":2,"d":1}],"y":1}}',
  );
});

Deno.test("canonicalJson is stable through a round trip", () => {
  const once = canonicalJson(parseJson(TRICKY));
  assert.equal(canonicalJson(parseJson(once)), once);
});

Deno.test("parseJson refuses malformed JSON with a SyntaxError", () => {
  assert.throws(() => parseJson('{"a": }'), SyntaxError);
  assert.throws(() => parseJson('{"a": 1'), SyntaxError);
});

Deno.test("toJsonValue turns JS numbers into JsonNumbers and drops undefined", () => {
  const v = toJsonValue({ a: 1.5, b: undefined, c: [2n, true] }) as JsonObject;
  assert.ok(v.a instanceof JsonNumber);
  assert.equal(canonicalJson(v), '{"a":1.5,"c":[2,true]}');
  assert.throws(() => toJsonValue(NaN), TypeError);
});

Deno.test("jsonEqual and contentHash ignore key order only", async () => {
  assert.ok(jsonEqual(parseJson('{"a":1,"b":2}'), parseJson('{"b":2,"a":1}')));
  assert.ok(!jsonEqual(parseJson('{"a":1.0}'), parseJson('{"a":1}')));
  assert.equal(
    await contentHash(parseJson('{"a":1,"b":2}')),
    await contentHash(parseJson('{"b":2,"a":1}')),
  );
  assert.match(await contentHash(null), /^[0-9a-f]{64}$/);
});

Deno.test("jsonEqual agrees with comparing canonical texts, without serialising", () => {
  const values = [
    "null",
    "0",
    "-0.0",
    "1",
    "1.0",
    '"1"',
    "true",
    "false",
    "[]",
    "{}",
    "[null]",
    "[1,2]",
    "[2,1]",
    "[1,[2]]",
    "[1,[2.0]]",
    '{"a":null}',
    '{"a":1}',
    '{"a":1,"b":[true,{"c":"x"}]}',
    '{"b":[true,{"c":"x"}],"a":1}',
    '{"b":[true,{"c":"y"}],"a":1}',
    '{"a":1,"b":[true,{"c":"x"}],"d":null}',
    "123456789012345678901234567890",
    "123456789012345678901234567891",
  ].map(parseJson);
  for (const a of values) {
    for (const b of values) {
      assert.equal(jsonEqual(a, b), canonicalJson(a) === canonicalJson(b), `${a} vs ${b}`);
    }
  }
  // Members holding undefined are not written, so they do not count either way.
  const sparse = { a: new JsonNumber("1"), gone: undefined } as unknown as JsonObject;
  assert.ok(jsonEqual(sparse, parseJson('{"a":1}')));
  assert.ok(!jsonEqual(sparse, parseJson('{"a":1,"gone":null}')));
});

Deno.test("JSON.stringify writes a JsonNumber as the exact number", () => {
  assert.equal(
    JSON.stringify({ n: new JsonNumber("123456789012345678901234"), d: [new JsonNumber("1.50")] }),
    '{"n":123456789012345678901234,"d":[1.50]}',
  );
});

Deno.test("parseJson takes the fast path only when every number is exact as a double", () => {
  for (
    const [text, literal] of [
      ['{"a": 1.50}', "1.50"],
      ['{"a": -0}', "-0"],
      ['{"a": 1E3}', "1E3"],
      ['{"a": 1234567890123456}', "1234567890123456"],
      ['{"a": 12345678.12345678}', "12345678.12345678"],
      ['{"a": 42}', "42"],
      ['{"a": -3.25}', "-3.25"],
    ]
  ) {
    const v = parseJson(text) as JsonObject;
    assert.ok(v.a instanceof JsonNumber, text);
    assert.equal((v.a as JsonNumber).text, literal);
  }
});

Deno.test("parseJson keeps risky numbers exactly without a reviver, and strings as they are", () => {
  // No `\u0000` in the text: the marker path. Numbers inside strings (after escaped quotes
  // and backslashes too) stay strings; every risky number outside them is kept verbatim.
  const text = '{"s": "a \\" 12345678901234567 \\\\", "n": [9007199254740993, -0, 1.50, 1e5, ' +
    '-2.50E+3, 7, 0.25], "k": "x\\\\\\" 1.50", "m": {"deep": 123456789012345678}}';
  const v = parseJson(text) as JsonObject;
  assert.equal(v.s, 'a " 12345678901234567 \\');
  assert.equal(v.k, 'x\\" 1.50');
  assert.deepEqual(
    (v.n as JsonNumber[]).map((n) => n.text),
    ["9007199254740993", "-0", "1.50", "1e5", "-2.50E+3", "7", "0.25"],
  );
  assert.equal(
    canonicalJson(v),
    '{"k":"x\\\\\\" 1.50","m":{"deep":123456789012345678},' +
      '"n":[9007199254740993,-0,1.50,1e5,-2.50E+3,7,0.25],"s":"a \\" 12345678901234567 \\\\"}',
  );
});

Deno.test("parseJson refuses malformed text with a risky number, naming the position", () => {
  for (const bad of ["{12345678901234567: 1}", '{"a": 1.50', "[1.50]]", '{"a": 01.50}']) {
    assert.throws(() => parseJson(bad), SyntaxError, bad);
  }
});
