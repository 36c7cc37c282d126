/**
 * The layering rules of `supabase/functions/_shared/README.md`, checked on the real module
 * graph (`deno info --json`), not on our reading of import lines:
 *
 * 1. **Function code imports nothing outside `supabase/`**: `supabase functions deploy`
 *    uploads a function's import graph; a file elsewhere would be missing on Supabase.
 * 2. **The CLI reaches the local stack only through the target layer**: among the CLI's
 *    modules (`scripts/stagecoach.ts`, `scripts/cli/`, `scripts/release/`, `scripts/backup/`), only
 *    `scripts/cli/target.ts` imports from `scripts/local/`.
 * 3. **Pure modules do no I/O**: they reach neither `postgres`, `stripe`, supabase-js nor our
 *    database, Stripe or outbound HTTP modules at run time (type-only imports are fine).
 *
 * @module
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "../scripts/local/config.ts";

/** One edge of the module graph: who imports what, at run time or for types only. */
export interface Edge {
  from: string;
  to: string;
  runtime: boolean;
}

interface DenoInfo {
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
  }[];
}

/** Repository-relative for files; npm packages as `npm:<name>`; anything else as is. */
function name(specifier: string): string {
  if (specifier.startsWith("file://")) return relative(REPO_ROOT, fileURLToPath(specifier));
  const npm = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)/.exec(specifier);
  return npm ? `npm:${npm[1]}` : specifier;
}

/** The edges of the graph of `entries`, as `deno info --json` resolves them. */
async function moduleGraph(...entries: string[]): Promise<Edge[]> {
  const edges: Edge[] = [];
  for (const entry of entries) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `./${entry}`],
      cwd: REPO_ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`deno info ${entry}: ${new TextDecoder().decode(out.stderr)}`);
    }
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo;
    for (const m of info.modules) {
      if (!m.specifier.startsWith("file://")) continue;
      for (const d of m.dependencies ?? []) {
        if (d.code) {
          edges.push({ from: name(m.specifier), to: name(d.code.specifier), runtime: true });
        } else if (d.type) {
          edges.push({ from: name(m.specifier), to: name(d.type.specifier), runtime: false });
        }
      }
    }
  }
  return edges;
}

/** Rule 1: modules of function graphs outside `supabase/`. */
export function outsideSupabase(edges: Edge[]): string[] {
  return [
    ...new Set(
      edges.filter((e) => !/^(npm|node):/.test(e.to) && !e.to.startsWith("supabase/"))
        .map((e) => `${e.from} imports ${e.to}`),
    ),
  ];
}

const CLI = /^scripts\/(stagecoach\.ts|cli\/|release\/|backup\/)/;
const TARGET = "scripts/cli/target.ts";

/** Rule 2: CLI modules other than the target layer importing the local stack. */
export function localStackImports(edges: Edge[]): string[] {
  return [
    ...new Set(
      edges.filter((e) =>
        CLI.test(e.from) && e.from !== TARGET && e.to.startsWith("scripts/local/")
      )
        .map((e) => `${e.from} imports ${e.to}`),
    ),
  ];
}

/** Modules whose run-time graph may not reach I/O (rule 3). */
export const PURE_MODULES = [
  "supabase/functions/_shared/promotion/plan.ts",
  "supabase/functions/_shared/promotion/render.ts",
  "supabase/functions/_shared/promotion/kinds.ts",
  "supabase/functions/_shared/promotion/users_scope.ts",
  "supabase/functions/_shared/promotion/restore_scope.ts",
  "supabase/functions/_shared/promotion/rollout_scope.ts",
  "supabase/functions/_shared/rollouts/plan.ts",
  "supabase/functions/_shared/json/lossless.ts",
  "supabase/functions/_shared/flags/definition.ts",
  "supabase/functions/_shared/flags/evaluate.ts",
  "supabase/functions/_shared/flags/murmur3.ts",
  "supabase/functions/_shared/flags/ofrep.ts",
  "supabase/functions/_shared/flags/cache.ts",
  "supabase/functions/_shared/api/contract.ts",
  "supabase/functions/_shared/users/mask_sql.ts",
  "supabase/functions/_shared/notifications/payload.ts",
  "supabase/functions/_shared/notifications/slack.ts",
  "supabase/functions/_shared/notifications/github.ts",
  "supabase/functions/_shared/notifications/backoff.ts",
  "supabase/functions/_shared/outbound/policy.ts",
  "supabase/functions/_shared/stripe/signature.ts",
  "scripts/release/release.ts",
  "scripts/release/summary.ts",
  "scripts/release/duration.ts",
  "scripts/release/sql_checks.ts",
  "scripts/release/schema_dump.ts",
  "scripts/backup/manifest.ts",
  "scripts/backup/crypto.ts",
  "scripts/backup/sql.ts",
];

/** What a pure module may not reach at run time. */
const IO = [
  /^npm:(postgres|stripe|@supabase\/supabase-js)$/,
  /^supabase\/functions\/_shared\/db\.ts$/,
  /^supabase\/functions\/_shared\/outbound\/fetch\.ts$/,
  /^supabase\/functions\/_shared\/stripe\/client\.ts$/,
];

/** Rule 3: for each pure module, the I/O its run-time graph reaches, with the path there. */
export function impureReach(edges: Edge[], pure: readonly string[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of edges.filter((e) => e.runtime)) {
    next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  }
  const problems: string[] = [];
  for (const root of pure) {
    const seen = new Map<string, string[]>([[root, [root]]]);
    const queue = [root];
    while (queue.length) {
      const at = queue.shift()!;
      for (const to of next.get(at) ?? []) {
        if (seen.has(to)) continue;
        const path = [...seen.get(at)!, to];
        seen.set(to, path);
        if (IO.some((re) => re.test(to))) problems.push(path.join(" → "));
        else queue.push(to);
      }
    }
  }
  return problems;
}

const FUNCTIONS = ["flags", "ops", "ops-worker", "stripe-webhook"].map((f) =>
  `supabase/functions/${f}/index.ts`
);

Deno.test("layering: function code imports nothing outside supabase/", async () => {
  const edges = await moduleGraph(...FUNCTIONS);
  assert.ok(edges.length > 50, "the graph was read");
  assert.deepEqual(outsideSupabase(edges), []);
});

Deno.test("layering: the CLI reaches the local stack only through scripts/cli/target.ts", async () => {
  const edges = await moduleGraph("scripts/stagecoach.ts");
  assert.ok(edges.some((e) => e.from === TARGET && e.to.startsWith("scripts/local/")));
  assert.deepEqual(localStackImports(edges), []);
});

Deno.test("layering: pure modules reach no database, Stripe or network module", async () => {
  const edges = await moduleGraph(...PURE_MODULES);
  assert.deepEqual(impureReach(edges, PURE_MODULES), []);
});

Deno.test("layering: each rule names a deliberate bad import", () => {
  const bad: Edge[] = [
    { from: "supabase/functions/ops/app.ts", to: "scripts/local/config.ts", runtime: true },
    { from: "scripts/cli/promote.ts", to: "scripts/local/config.ts", runtime: true },
    {
      from: "supabase/functions/_shared/promotion/plan.ts",
      to: "supabase/functions/_shared/promotion/x.ts",
      runtime: true,
    },
    { from: "supabase/functions/_shared/promotion/x.ts", to: "npm:postgres", runtime: true },
    { from: "supabase/functions/_shared/promotion/render.ts", to: "npm:postgres", runtime: false },
  ];
  assert.deepEqual(outsideSupabase(bad.slice(0, 1)), [
    "supabase/functions/ops/app.ts imports scripts/local/config.ts",
  ]);
  assert.deepEqual(localStackImports(bad), [
    "scripts/cli/promote.ts imports scripts/local/config.ts",
  ]);
  assert.deepEqual(
    impureReach(bad, [
      "supabase/functions/_shared/promotion/plan.ts",
      "supabase/functions/_shared/promotion/render.ts",
    ]),
    [
      "supabase/functions/_shared/promotion/plan.ts → supabase/functions/_shared/promotion/x.ts → npm:postgres",
    ],
    "a type-only import is fine; a run-time path to postgres is named",
  );
  assert.equal(name("npm:/@supabase/supabase-js@2.119.1/dist/x.js"), "npm:@supabase/supabase-js");
});
