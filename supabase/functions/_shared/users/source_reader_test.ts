import assert from "node:assert/strict";
import { JobFailure } from "../jobs/runner.ts";
import { explainSourceError, statementTimeoutFor } from "./source_reader.ts";

Deno.test("statementTimeoutFor limits statements that embed a --where, and only those", () => {
  assert.equal(statementTimeoutFor({ where: "true" }), 30);
  assert.equal(statementTimeoutFor({ where: "true", sample: 5 }, 120), 120);
  assert.equal(statementTimeoutFor({ sample: 10 }, 120), null);
  assert.equal(statementTimeoutFor({}), null);
});

Deno.test("explainSourceError says which containment stopped a statement", () => {
  const timeout = explainSourceError(
    { code: "57014", message: "canceling statement due to statement timeout" },
    2,
  ) as JobFailure;
  assert.ok(timeout instanceof JobFailure);
  assert.equal(timeout.code, "statement_timeout");
  assert.match(timeout.message, /^Cannot read the source: a statement ran past the 2 s statement/);
  const denied = explainSourceError(
    { code: "42501", message: "permission denied for schema vault" },
    30,
  ) as JobFailure;
  assert.equal(denied.code, "source_permission_denied");
  assert.match(denied.message, /permission denied for schema vault \(a copy reads the source as/);
  const readOnly = explainSourceError(
    { code: "25006", message: "cannot execute nextval() in a read-only transaction" },
    null,
  ) as JobFailure;
  assert.equal(readOnly.code, "source_read_only");
  const cancelled = { code: "57014", message: "canceling statement due to user request" };
  assert.equal(explainSourceError(cancelled, 30), cancelled, "another cancel stays as it is");
  const other = new Error("Cannot connect");
  assert.equal(explainSourceError(other, 30), other);
});
