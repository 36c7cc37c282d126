import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { expandSpec, readAppSpec, validateAppSpec } from "./do_app_spec.ts";

const SPEC = fileURLToPath(new URL("../../.do/app.yaml", import.meta.url));
const SAMPLE = {
  STATUS_ENV: "production",
  STATUS_BRANCH: "main",
  GITHUB_REPOSITORY: "acme/stagecoach",
  STATUS_FUNCTIONS_URL: "https://abcdefghijklmnopqrst.supabase.co/functions/v1",
  STATUS_ANON_KEY: "sample-anon-key",
  CONSOLE_SUPABASE_URL: "https://abcdefghijklmnopqrst.supabase.co",
};

Deno.test(".do/app.yaml, expanded as app_action would, is valid for DigitalOcean", async () => {
  const { spec, references } = await readAppSpec(SPEC, SAMPLE);
  assert.deepEqual(validateAppSpec(spec), []);
  assert.deepEqual(
    [...new Set(references.map((r) => r.name))].sort(),
    Object.keys(SAMPLE).sort(),
    "the spec reads exactly the variables the release workflows set",
  );
  assert.equal(spec.name, "stagecoach-status-production");
});

Deno.test("validateAppSpec refuses unknown keys, bad enums and bad names, naming the path", () => {
  const good = () => parse(expandSpec(Deno.readTextFileSync(SPEC), SAMPLE).text);
  // deno-lint-ignore no-explicit-any -- mutating arbitrary depths of a parsed YAML document
  const cases: [(spec: Record<string, any>) => void, string, RegExp][] = [
    [(s) => s.static_sites[0].outptu_dir = "dist", "/static_sites/0/outptu_dir", /additional/],
    [
      (s) => s.static_sites[0].envs[0].scope = "BUILDTIME",
      "/static_sites/0/envs/0/scope",
      /allowed/,
    ],
    [(s) => s.static_sites[0].envs[2].type = "ENCRYPTED", "/static_sites/0/envs/2/type", /allowed/],
    [(s) => s.name = "Stagecoach_Status", "/name", /pattern/],
    [(s) => s.region = "mars", "/region", /allowed/],
    [
      (s) => s.static_sites[0].github.deploy_on_push = "no",
      "/static_sites/0/github/deploy_on_push",
      /boolean/,
    ],
    [(s) => delete s.name, "/", /name/],
  ];
  for (const [mutate, path, message] of cases) {
    const spec = good();
    mutate(spec);
    const problems = validateAppSpec(spec);
    assert.ok(
      problems.some((p) => p.path === path && message.test(p.message)),
      `${path}: ${JSON.stringify(problems)}`,
    );
  }
});

Deno.test(".do/app.yaml holds no secret value: SECRET envs are references, nothing looks like a key", async () => {
  const text = await Deno.readTextFile(SPEC);
  const raw = parse(text);
  for (const site of raw.static_sites) {
    for (const env of site.envs ?? []) {
      if (env.type === "SECRET") assert.match(env.value, /^\$\{[A-Z_][A-Z0-9_]*\}$/, env.key);
    }
  }
  const secretShapes = [
    /eyJ[\w-]{10,}\.[\w-]{10,}/, // a JWT (Supabase anon / service-role keys)
    /dop_v1_[0-9a-f]{16,}/, // a DigitalOcean token
    /sbp_[0-9a-f]{16,}/, // a Supabase access token
    /\b[sr]k_(live|test)_\w+/, // a Stripe key
    /postgres(ql)?:\/\/[^\s:]+:[^\s@$]+@/, // a database URL with a password
  ];
  for (const shape of secretShapes) assert.doesNotMatch(text, shape);
});

Deno.test("expandSpec follows Go's os.Expand as app_action calls it", () => {
  const env = { A: "1", B_2: "two", EMPTY: "" };
  const cases: [string, string][] = [
    ["${A}-$A-$B_2.x", "1-1-two.x"],
    ["${MISSING}|$MISSING|${EMPTY}", "||"],
    ["${APP_URL} ${db.DATABASE_URL}", "${APP_URL} ${db.DATABASE_URL}"], // kept for App Platform
    ["cost: 5$", "cost: 5$"], // a final $ stays
    ["a $ b", "a $ b"], // $ followed by no name stays
    ["${}x", "x"], // bad syntax is eaten
    ["${unclosed", "unclosed"],
  ];
  for (const [input, expected] of cases) assert.equal(expandSpec(input, env).text, expected, input);
  assert.deepEqual(expandSpec("$A ${APP_ID}", env).references, [
    { name: "A", kept: false },
    { name: "APP_ID", kept: true },
  ]);
});
