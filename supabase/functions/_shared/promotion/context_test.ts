import assert from "node:assert/strict";
import { ApiError } from "../http.ts";
import { toApiError } from "./context.ts";

Deno.test("toApiError maps the database's refusals to 403 and 409, and leaves other errors alone", () => {
  const forbidden = toApiError({ code: "42501", message: "permission denied" });
  assert.ok(forbidden instanceof ApiError);
  assert.equal(forbidden.status, 403);
  for (const code of ["23514", "23505", "P0001", "55000"]) {
    const e = toApiError({ code, message: `refused (${code})` });
    assert.ok(e instanceof ApiError, code);
    assert.equal(e.status, 409, code);
    assert.equal(e.message, `refused (${code})`);
  }
  const other = new Error("connection reset");
  assert.equal(toApiError(other), other);
});
