import assert from "node:assert/strict";
import {
  assertSafeWhere,
  assertValidSelection,
  describeSelection,
  ident,
  literal,
  selectionPredicate,
  USER_TABLE_NAMES,
} from "./scope.ts";

Deno.test("the copy covers users, identities, profiles and memberships, parents first", () => {
  assert.deepEqual(USER_TABLE_NAMES, [
    "auth.users",
    "auth.identities",
    "public.profiles",
    "public.memberships",
  ]);
});

Deno.test("ident and literal quote safely", () => {
  assert.equal(ident("auth.users"), '"auth"."users"');
  assert.equal(ident('we"ird'), '"we""ird"');
  assert.equal(literal("O'Brien"), "'O''Brien'");
  assert.equal(literal("a\\' or true"), "E'a\\\\'' or true'", "the same with or without SCS");
});

Deno.test("selectionPredicate: all, sample, where (only ever through the contained function), both", () => {
  assert.equal(selectionPredicate({}, "t.id"), "true");
  assert.equal(selectionPredicate({ sample: 100 }, "t.id"), "true");
  assert.equal(
    selectionPredicate({ sample: 10 }, "t.user_id"),
    "(('x' || substr(md5(t.user_id::text), 1, 8))::bit(32)::bigint < 429496729)",
  );
  assert.equal(
    selectionPredicate({ where: "u.email like '%@x.test'" }, "t.id"),
    "t.id in (select s.id from users_copy.selected_user_ids('u.email like ''%@x.test''') as s(id))",
  );
  assert.match(selectionPredicate({ sample: 50, where: "true" }, "t.id"), / and t\.id in /);
});

Deno.test("assertSafeWhere refuses separators, comments, dollar quotes and broken parentheses", () => {
  assertSafeWhere("u.created_at > now() - interval '30 days' and (u.email like '%;%')");
  assertSafeWhere(`u.raw_user_meta_data ->> 'a' = 'it''s'`);
  for (
    const [where, why] of [
      ["true; drop table auth.users", "';'"],
      ["true -- x", "a comment"],
      ["true /* x */", "a comment"],
      ["$$x$$ = 'x'", "dollar quoting"],
      ["true) or (true", "closes more than it opens"],
      ["(true", "is not closed"],
      ["u.email = 'x", "quote is not closed"],
      ["  ", "it is empty"],
    ]
  ) {
    assert.throws(
      () => assertSafeWhere(where),
      new RegExp(`Cannot use --where: .*${why.replace(/[()*']/g, ".")}`),
    );
  }
});

Deno.test("assertValidSelection checks the sample percentage", () => {
  assertValidSelection({ sample: 0.5 });
  assert.throws(
    () => assertValidSelection({ sample: 0 }),
    /Cannot use --sample: 0 is not a percentage/,
  );
  assert.throws(() => assertValidSelection({ sample: 101 }), /101/);
});

Deno.test("describeSelection reads like a sentence fragment", () => {
  assert.equal(describeSelection({}), "all users");
  assert.equal(describeSelection({ sample: 10, where: "true" }), "10 % sample, where true");
});
