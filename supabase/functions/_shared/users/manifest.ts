/**
 * The anonymization manifest (`supabase/anonymize.json`): a rule for every column of every
 * copied table, validated with zod. Strict by design: {@link checkCoverage} names every column
 * of the source or target schema that has no rule (e.g. one added by a new migration), and the
 * copy stops before any row moves.
 *
 * Rules (column level; inside JSONB, `paths` map a path such as `address.line1` or
 * `contacts[*].email` to a rule):
 *
 * | rule           | result                                                                    |
 * | -------------- | ------------------------------------------------------------------------- |
 * | `keep`         | the value as is                                                           |
 * | `null`         | SQL null (JSON null inside JSONB); `drop` removes a JSONB key             |
 * | `constant`     | `value`, the same for every row                                           |
 * | `hash`         | hex of HMAC-SHA256 (first `length` chars, optional `prefix`)              |
 * | `uuid`         | a uuid derived from the HMAC: the same input gives the same uuid anywhere |
 * | `fake_email`   | `<name>.<16 hex>@<domain>`: unique, same for the same email everywhere    |
 * | `fake_name`    | a made-up `first`, `last` or `full` name                                  |
 * | `fake_phone`   | `+99` and 13 digits (99x is an unassigned country code)                   |
 * | `fake_address` | a made-up `street`, `city` or `postal_code`                               |
 * | `date_shift`   | the date moved by a deterministic −`days`…+`days`                         |
 * | `generalize`   | the date truncated to its `year` or `month`                               |
 * | `jsonb`        | `paths` rules; keys not listed are dropped (`unlisted: "keep"` keeps them) |
 * | `password`     | a bcrypt hash of the configured test password                             |
 * | `tier_by_slug` | the target's tier with the same slug                                      |
 * | `stripe_id`    | kept into production; otherwise `null` or a fake id (`otherwise`)        |
 *
 * Fakes are derived from the value (normalised: trimmed, lower case), or from another column of
 * the row with `seed` (e.g. names from the user id, so first, last and full name agree).
 * `pii` marks personal data for the leak scan; it defaults to true for fakes and hashes.
 *
 * @module
 */
import { z } from "zod";
import { contentHash, toJsonValue } from "../json/lossless.ts";
// The manifest ships with the code: a copy never takes one from its parameters.
import shippedManifestFile from "../../../anonymize.json" with { type: "json" };

const Seed = z.string().regex(/^[a-z_][a-z0-9_]*$/, "expected a column name").optional();
const Pii = z.boolean().optional();
const Note = z.string().optional();

const KeepRule = z.strictObject({ rule: z.literal("keep"), pii: Pii, note: Note });
const NullRule = z.strictObject({ rule: z.literal("null"), pii: Pii, note: Note });
const DropRule = z.strictObject({ rule: z.literal("drop"), note: Note });
const ConstantRule = z.strictObject({
  rule: z.literal("constant"),
  value: z.union([z.string(), z.number(), z.boolean(), z.null()]),
  pii: Pii,
  note: Note,
});
const HashRule = z.strictObject({
  rule: z.literal("hash"),
  length: z.number().int().min(16).max(64).default(32),
  prefix: z.string().regex(/^[A-Za-z0-9_.:-]*$/).max(16).default(""),
  pii: Pii,
  note: Note,
});
const UuidRule = z.strictObject({ rule: z.literal("uuid"), pii: Pii, note: Note });
const FakeEmailRule = z.strictObject({
  rule: z.literal("fake_email"),
  domain: z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/).optional(),
  pii: Pii,
  note: Note,
});
const FakeNameRule = z.strictObject({
  rule: z.literal("fake_name"),
  part: z.enum(["first", "last", "full"]),
  seed: Seed,
  pii: Pii,
  note: Note,
});
const FakePhoneRule = z.strictObject({
  rule: z.literal("fake_phone"),
  seed: Seed,
  pii: Pii,
  note: Note,
});
const FakeAddressRule = z.strictObject({
  rule: z.literal("fake_address"),
  part: z.enum(["street", "city", "postal_code"]),
  seed: Seed,
  pii: Pii,
  note: Note,
});
const DateShiftRule = z.strictObject({
  rule: z.literal("date_shift"),
  days: z.number().int().min(1).max(3650),
  seed: Seed,
  pii: Pii,
  note: Note,
});
const GeneralizeRule = z.strictObject({
  rule: z.literal("generalize"),
  to: z.enum(["year", "month"]),
  pii: Pii,
  note: Note,
});
const PasswordRule = z.strictObject({ rule: z.literal("password"), note: Note });
const TierBySlugRule = z.strictObject({ rule: z.literal("tier_by_slug"), note: Note });
const StripeIdRule = z.strictObject({
  rule: z.literal("stripe_id"),
  prefix: z.enum(["cus", "sub"]),
  otherwise: z.enum(["null", "fake"]),
  note: Note,
});

/** Rules allowed at a JSONB path. */
export const JsonLeafRuleSchema = z.discriminatedUnion("rule", [
  KeepRule,
  NullRule,
  DropRule,
  ConstantRule,
  HashRule,
  UuidRule,
  FakeEmailRule,
  FakeNameRule,
  FakePhoneRule,
  FakeAddressRule,
]);
/** A rule at a JSONB path. */
export type JsonLeafRule = z.infer<typeof JsonLeafRuleSchema>;

const JsonbRule = z.strictObject({
  rule: z.literal("jsonb"),
  paths: z.record(z.string(), JsonLeafRuleSchema).default({}),
  unlisted: z.enum(["drop", "keep"]).default("drop"),
  pii: Pii,
  note: Note,
});

/** Every column rule. */
export const ColumnRuleSchema = z.discriminatedUnion("rule", [
  KeepRule,
  NullRule,
  ConstantRule,
  HashRule,
  UuidRule,
  FakeEmailRule,
  FakeNameRule,
  FakePhoneRule,
  FakeAddressRule,
  DateShiftRule,
  GeneralizeRule,
  JsonbRule,
  PasswordRule,
  TierBySlugRule,
  StripeIdRule,
]);
/** A column rule. */
export type ColumnRule = z.infer<typeof ColumnRuleSchema>;

const TableName = z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, "expected schema.table");
const ColumnName = z.string().regex(/^[a-z_][a-z0-9_]*$/, "expected a column name");

/** The manifest file. */
export const ManifestSchema = z.strictObject({
  $comment: z.string().optional(),
  version: z.literal(1),
  /** Domain of fake emails; `.test` is reserved (RFC 2606) and never delivers. */
  fake_email_domain: z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/).default(
    "anon.stagecoach.test",
  ),
  /** bcrypt cost of the test password hash (computed once per job). */
  password_cost: z.number().int().min(4).max(12).default(10),
  /** Shortest source value the leak scan looks for (shorter ones match by chance). */
  leak_scan_min_length: z.number().int().min(3).max(64).default(6),
  tables: z.record(TableName, z.record(ColumnName, ColumnRuleSchema)),
});
/** A parsed manifest. */
export type Manifest = z.infer<typeof ManifestSchema>;

/** One segment of a JSONB path: a key, optionally followed by `[*]` (every array item). */
export interface PathSegment {
  key: string;
  each: boolean;
}

/**
 * Parses a JSONB rule path: keys separated by dots, `[*]` after a key for every array item.
 *
 * @example
 * ```ts
 * parseJsonPath("contacts[*].email"); // [{ key: "contacts", each: true }, { key: "email", each: false }]
 * ```
 * @throws {Error} for an empty or malformed path
 */
export function parseJsonPath(path: string): PathSegment[] {
  const parts = path.split(".");
  return parts.map((part) => {
    const m = /^([A-Za-z0-9_-]+)(\[\*\])?$/.exec(part);
    if (!m) throw new Error(`Cannot read JSONB path "${path}": "${part}" is not a key or key[*]`);
    return { key: m[1], each: m[2] !== undefined };
  });
}

/**
 * Parses and validates a manifest (including every JSONB path).
 *
 * @param input the manifest file's JSON
 * @returns the manifest with defaults filled in
 * @throws {Error} "Cannot read the anonymization manifest: <path>: <problem>; …"
 */
export function parseManifest(input: unknown): Manifest {
  const parsed = ManifestSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      `${i.path.join(".") || "(root)"}: ${i.message}`
    );
    throw new Error(`Cannot read the anonymization manifest: ${problems.join("; ")}`);
  }
  for (const [table, columns] of Object.entries(parsed.data.tables)) {
    for (const [column, rule] of Object.entries(columns)) {
      if (rule.rule !== "jsonb") continue;
      for (const path of Object.keys(rule.paths)) {
        try {
          parseJsonPath(path);
        } catch (err) {
          throw new Error(
            `Cannot read the anonymization manifest: tables.${table}.${column}.paths: ${
              (err as Error).message
            }`,
          );
        }
      }
    }
  }
  return parsed.data;
}

/**
 * The manifest's content hash (SHA-256 of its canonical JSON), recorded in the job and audit.
 *
 * @example
 * ```ts
 * await manifestHash(manifest); // "3b9f…" (64 hex)
 * ```
 */
export async function manifestHash(manifest: Manifest): Promise<string> {
  return await contentHash(toJsonValue(manifest));
}

/**
 * The manifest this code ships (`supabase/anonymize.json`, bundled with the functions and the
 * CLI). Every `users.copy` uses it; a job only names its hash.
 */
export const SHIPPED_MANIFEST: Manifest = parseManifest(shippedManifestFile);

/**
 * The hash of {@link SHIPPED_MANIFEST}. The database accepts `users.copy` jobs naming only
 * this hash (`private.users_copy_manifest_hash()`, set by migration): change both together.
 */
export const SHIPPED_MANIFEST_HASH: string = await manifestHash(SHIPPED_MANIFEST);

/** Rules that turn personal data into something else (and so mark a column personal). */
const MASKING_RULES = new Set(["hash", "fake_email", "fake_name", "fake_phone", "fake_address"]);

/**
 * Whether the leak scan treats a column as personal data: its `pii` flag when given;
 * otherwise true for fakes and hashes, and for JSONB columns with such a rule at any path.
 */
export function isPersonal(rule: ColumnRule): boolean {
  if ("pii" in rule && rule.pii !== undefined) return rule.pii;
  if (MASKING_RULES.has(rule.rule)) return true;
  if (rule.rule === "jsonb") {
    return Object.values(rule.paths).some((r) => MASKING_RULES.has(r.rule));
  }
  return false;
}

/** A column as the catalog describes it. */
export interface ColumnInfo {
  name: string;
  /** `format_type` of the column, e.g. `text`, `uuid`, `timestamp with time zone`. */
  type: string;
  /** Generated columns are computed by the target and never copied. */
  generated: boolean;
}

/** One coverage problem. */
export interface CoverageProblem {
  table: string;
  column: string;
  problem: "unmapped" | "not_in_source" | "not_in_target" | "unknown_table" | "generated";
  message: string;
}

/**
 * Checks that the manifest has a rule for every column of every copied table, in both the
 * source and the target schema, and no rule for a column that does not exist. Generated
 * columns need no rule (the target computes them from the masked columns).
 *
 * @param manifest the manifest
 * @param opts.tables the copied tables, in order
 * @param opts.source columns per table in the source
 * @param opts.target columns per table in the target
 * @returns the problems, empty when the copy may proceed
 * @example
 * ```ts
 * const problems = checkCoverage(manifest, { tables: USER_TABLE_NAMES, source, target });
 * ```
 */
export function checkCoverage(
  manifest: Manifest,
  opts: {
    tables: readonly string[];
    source: Record<string, ColumnInfo[]>;
    target: Record<string, ColumnInfo[]>;
  },
): CoverageProblem[] {
  const { tables, source, target } = opts;
  const problems: CoverageProblem[] = [];
  for (const table of Object.keys(manifest.tables)) {
    if (!tables.includes(table)) {
      problems.push({
        table,
        column: "*",
        problem: "unknown_table",
        message: `${table} is not a copied table (expected ${tables.join(", ")})`,
      });
    }
  }
  for (const table of tables) {
    const rules = manifest.tables[table] ?? {};
    const src = source[table] ?? [];
    const tgt = target[table] ?? [];
    if (!src.length) {
      problems.push({
        table,
        column: "*",
        problem: "not_in_source",
        message: `${table} does not exist in the source`,
      });
    }
    if (!tgt.length) {
      problems.push({
        table,
        column: "*",
        problem: "not_in_target",
        message: `${table} does not exist in the target`,
      });
    }
    const srcNames = new Map(src.map((c) => [c.name, c]));
    const tgtNames = new Map(tgt.map((c) => [c.name, c]));
    for (const c of src) {
      if (c.generated) continue;
      if (!(c.name in rules)) {
        problems.push({
          table,
          column: c.name,
          problem: "unmapped",
          message: `${table}.${c.name} has no rule in the manifest`,
        });
      }
      if (tgt.length && !tgtNames.has(c.name)) {
        problems.push({
          table,
          column: c.name,
          problem: "not_in_target",
          message: `${table}.${c.name} exists in the source but not in the target`,
        });
      }
    }
    for (const c of tgt) {
      if (!c.generated && src.length && !srcNames.has(c.name)) {
        problems.push({
          table,
          column: c.name,
          problem: "not_in_source",
          message: `${table}.${c.name} exists in the target but not in the source`,
        });
      }
    }
    for (const column of Object.keys(rules)) {
      const info = srcNames.get(column);
      if (src.length && !info) {
        problems.push({
          table,
          column,
          problem: "not_in_source",
          message: `${table}.${column} has a rule but no such column exists in the source`,
        });
      } else if (info?.generated) {
        problems.push({
          table,
          column,
          problem: "generated",
          message: `${table}.${column} is generated and cannot have a rule`,
        });
      }
    }
  }
  return problems;
}
