import assert from "node:assert/strict";
import { describeProblems, type ValidationReport } from "./validate.ts";

Deno.test("describeProblems lists count mismatches, broken foreign keys and leaks, nothing else", () => {
  const report: ValidationReport = {
    ok: false,
    counts: {
      "auth.users": { selected: 3, in_target: 3 },
      "public.profiles": { selected: 3, in_target: 2 },
    },
    foreign_keys: [
      { name: "profiles_id_fkey", table: "public.profiles", column: "id", violations: 0 },
      {
        name: "memberships_tier_id_fkey",
        table: "public.memberships",
        column: "tier_id",
        violations: 1,
      },
    ],
    unique_indexes: ["auth.users.users_pkey"],
    leak_scan: {
      source_values: 10,
      leaks: [{ table: "public.profiles", column: "phone", matches: 3 }],
      purged_users: 3,
    },
  };
  assert.deepEqual(describeProblems(report), [
    "public.profiles: 2 rows in the target, 3 selected in the source",
    "public.memberships.tier_id: 1 rows break memberships_tier_id_fkey",
    "leak: 3 source personal values appear in public.profiles.phone",
  ]);
  assert.deepEqual(
    describeProblems({ ...report, counts: {}, foreign_keys: [], leak_scan: null }),
    [],
  );
});
