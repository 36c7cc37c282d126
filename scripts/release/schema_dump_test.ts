import assert from "node:assert/strict";
import { normaliseSchemaDump, schemaDiff, schemaText } from "./schema_dump.ts";

const HEAD = [
  "--",
  "-- PostgreSQL database dump",
  "--",
  "",
  "\\restrict AbC123",
  "",
  "SET statement_timeout = 0;",
  "SELECT pg_catalog.set_config('search_path', '', false);",
  "",
];

function block(header: string, ...lines: string[]): string[] {
  return ["--", `-- ${header}`, "--", "", ...lines, "", ""];
}

const TABLE = block(
  "Name: t; Type: TABLE; Schema: public; Owner: postgres",
  "CREATE TABLE public.t (",
  "    id integer,",
  "    note text",
  ");",
  "ALTER TABLE public.t OWNER TO postgres;",
);
const FN = block(
  "Name: f(); Type: FUNCTION; Schema: public; Owner: postgres",
  "CREATE FUNCTION public.f() RETURNS integer",
  "    LANGUAGE sql",
  "    AS $$ select 1 $$;",
);
const ACL = (...grants: string[]) =>
  block("Name: TABLE t; Type: ACL; Schema: public; Owner: postgres", ...grants);

Deno.test("normaliseSchemaDump drops comments, SET lines, restrict keys and blank lines", () => {
  const blocks = normaliseSchemaDump([...HEAD, ...TABLE, "\\unrestrict AbC123", ""].join("\n"));
  assert.deepEqual(blocks, [{
    header: "Name: t; Type: TABLE; Schema: public; Owner: postgres",
    lines: [
      "CREATE TABLE public.t (",
      "    id integer,",
      "    note text",
      ");",
      "ALTER TABLE public.t OWNER TO postgres;",
    ],
  }]);
});

Deno.test("normaliseSchemaDump: equal schemas dumped in another order or with another restrict key are equal", () => {
  const a = [
    ...HEAD,
    ...TABLE,
    ...FN,
    ...ACL("GRANT ALL ON TABLE public.t TO anon;", "GRANT ALL ON TABLE public.t TO service_role;"),
  ];
  const b = [
    ...HEAD.map((l) => l.replace("AbC123", "XyZ789")),
    ...FN,
    ...ACL("GRANT ALL ON TABLE public.t TO service_role;", "GRANT ALL ON TABLE public.t TO anon;"),
    ...TABLE,
  ];
  assert.equal(
    schemaText(normaliseSchemaDump(a.join("\n"))),
    schemaText(normaliseSchemaDump(b.join("\n"))),
  );
});

Deno.test("normaliseSchemaDump keeps a table's column order (a column added back at the end differs)", () => {
  const moved = block(
    "Name: t; Type: TABLE; Schema: public; Owner: postgres",
    "CREATE TABLE public.t (",
    "    note text,",
    "    id integer",
    ");",
    "ALTER TABLE public.t OWNER TO postgres;",
  );
  assert.notEqual(
    schemaText(normaliseSchemaDump(TABLE.join("\n"))),
    schemaText(normaliseSchemaDump(moved.join("\n"))),
  );
});

Deno.test("schemaDiff names the object and marks the differing lines with context", () => {
  const before = normaliseSchemaDump([...TABLE, ...FN].join("\n"));
  const extra = block(
    "Name: t; Type: TABLE; Schema: public; Owner: postgres",
    "CREATE TABLE public.t (",
    "    id integer,",
    "    note text,",
    "    flag boolean",
    ");",
    "ALTER TABLE public.t OWNER TO postgres;",
  );
  const idx = block(
    "Name: t_idx; Type: INDEX; Schema: public; Owner: postgres",
    "CREATE INDEX t_idx ON public.t USING btree (id);",
  );
  const after = normaliseSchemaDump([...extra, ...idx].join("\n"));
  assert.deepEqual(schemaDiff(before, after), [
    "--- only before: Name: f(); Type: FUNCTION; Schema: public; Owner: postgres",
    "- CREATE FUNCTION public.f() RETURNS integer",
    "-     LANGUAGE sql",
    "-     AS $$ select 1 $$;",
    "@@ Name: t; Type: TABLE; Schema: public; Owner: postgres",
    "  CREATE TABLE public.t (",
    "      id integer,",
    "-     note text",
    "+     note text,",
    "+     flag boolean",
    "  );",
    "  ALTER TABLE public.t OWNER TO postgres;",
    "+++ only after: Name: t_idx; Type: INDEX; Schema: public; Owner: postgres",
    "+ CREATE INDEX t_idx ON public.t USING btree (id);",
  ]);
  assert.deepEqual(schemaDiff(before, before), []);
});
