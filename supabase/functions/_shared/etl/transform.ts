/**
 * What an ETL transform is: a versioned file in the repository (`supabase/etl/<id>.ts`) naming
 * its table, the batch query (key, columns read, and the idempotence guard: an SQL predicate
 * true only for rows that still need the transform), the columns it writes and a pure row
 * transform. The engine (`run_job.ts`) runs it as a checkpointed `etl.run` job. Pure.
 *
 * @module
 */
import { z } from "zod";

/** A row as the batch query returns it (column → value, the key included). */
export type EtlRow = Record<string, unknown>;

/** One transform. */
export interface Transform {
  /** snake_case id, the CLI's `etl run <id>`. */
  id: string;
  /** Bumped whenever the transform's behaviour changes; a job refuses to resume across versions. */
  version: number;
  description: string;
  /** `schema.table`. */
  table: string;
  /** A unique, sortable column: the keyset cursor. */
  key: string;
  /** Columns the batch query reads (besides the key). */
  reads: string[];
  /** Columns the transform writes. */
  writes: string[];
  /**
   * The idempotence guard: an SQL predicate on the table (unqualified column names) true for
   * rows that still need the transform, and false once it ran. Applied when reading a batch
   * and again in the UPDATE, so a row changed meanwhile is left alone and a second run
   * changes nothing.
   */
  guard: string;
  /**
   * The row transform: the new values of `writes` for one row, or null to leave it as is.
   * Must be pure and deterministic (previews and resumed runs rely on it).
   */
  transform(row: EtlRow): Record<string, unknown> | null;
}

const Name = z.string().regex(/^[a-z_][a-z0-9_]*$/);

const TransformShape = z.object({
  id: Name,
  version: z.number().int().positive(),
  description: z.string().min(1),
  table: z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/),
  key: Name,
  reads: z.array(Name),
  writes: z.array(Name).min(1),
  guard: z.string().min(1).refine((g) => !/;|--|\/\*/.test(g), "no ';' or comments"),
  transform: z.custom<Transform["transform"]>((f) => typeof f === "function"),
});

/**
 * Validates a transform's declaration (what a new file gets wrong is caught when it loads).
 *
 * @returns the transform, unchanged
 * @throws {Error} "Cannot load ETL transform <id>: <path>: <problem>"
 * @example
 * ```ts
 * export default defineTransform({ id: "x", version: 1, … transform: (row) => ({ … }) });
 * ```
 */
export function defineTransform(t: Transform): Transform {
  const parsed = TransformShape.safeParse(t);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      `${i.path.join(".") || "(root)"}: ${i.message}`
    );
    throw new Error(`Cannot load ETL transform ${t?.id ?? "?"}: ${problems.join("; ")}`);
  }
  if (t.writes.includes(t.key)) {
    throw new Error(`Cannot load ETL transform ${t.id}: it may not write its key ${t.key}`);
  }
  return t;
}

/** One row of a preview: key, the columns read and written before, and after. */
export interface PreviewRow {
  key: unknown;
  before: Record<string, unknown>;
  after: Record<string, unknown> | null;
}

/**
 * Applies the transform to rows for a preview (dry run) without touching any database.
 *
 * @example
 * ```ts
 * previewRows(t, [{ id: "…", full_name: "Ada Lovelace", given_name: null, family_name: null }]);
 * ```
 */
export function previewRows(t: Transform, rows: EtlRow[]): PreviewRow[] {
  return rows.map((row) => {
    const before: Record<string, unknown> = {};
    for (const c of [...t.reads, ...t.writes]) before[c] = row[c] ?? null;
    return { key: row[t.key], before, after: t.transform(row) };
  });
}

/**
 * Finds a transform by id.
 *
 * @throws {Error} naming the known ids when there is none
 */
export function findTransform(transforms: readonly Transform[], id: string): Transform {
  const found = transforms.find((t) => t.id === id);
  if (!found) {
    throw new Error(
      `Cannot find ETL transform "${id}": known transforms are ${
        transforms.map((t) => t.id).join(", ") || "none"
      }`,
    );
  }
  return found;
}
