import assert from "node:assert/strict";
import { maskSecrets } from "./supabase_cli.ts";

Deno.test("maskSecrets hides given secrets and any URL's password, longest first", () => {
  const out = maskSecrets(
    "Connecting to postgresql://postgres.abc:p%40ss@db.example.com:5432/postgres\n" +
      "token sbp_0123456789abcdef and sbp_0123456789abcdef00 and sk_test_123",
    ["sbp_0123456789abcdef", "sbp_0123456789abcdef00", "sk_test_123", "ab"],
  );
  assert.equal(
    out,
    "Connecting to postgresql://postgres.abc:***@db.example.com:5432/postgres\n" +
      "token *** and *** and ***",
  );
  assert.doesNotMatch(out, /p%40ss|sbp_|sk_test/);
});

Deno.test("maskSecrets leaves short values alone (a two-letter secret would mask every word)", () => {
  assert.equal(maskSecrets("abc ab", ["ab"]), "abc ab");
});
