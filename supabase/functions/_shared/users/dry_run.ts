/**
 * `--dry-run` of a user copy: every preflight check, the selection's counts, and a few sample
 * rows per table, before (redacted on the source: first character and length) and after
 * masking. Writes nothing; the source is read contained (`source_reader.ts`).
 *
 * @module
 */
import { buildTableSelect, type CopyMode, redactedExpr } from "./mask_sql.ts";
import { maskOptions, type Preflight, preflightCopy, type PreflightInput } from "./preflight.ts";
import { ident, selectionPredicate, USER_TABLES } from "./scope.ts";
import { readSource, statementTimeoutFor } from "./source_reader.ts";

/** One sample row: the columns whose value changes, before (redacted) and after. */
export interface SampleRow {
  before: Record<string, string | null>;
  after: Record<string, string | null>;
}

/** What a dry run reports. */
export interface DryRunReport {
  preflight: Preflight;
  samples: Record<string, SampleRow[]>;
}

/**
 * Runs the preflight and reads sample rows; nothing is written anywhere.
 *
 * @param input as for the preflight, plus the test password hash the samples show (null: a
 * placeholder)
 * @param opts.samples rows per table (default 3)
 * @throws {JobFailure} as the preflight does
 */
export async function dryRunCopy(
  input: PreflightInput & { passwordHash: string | null },
  opts: { samples?: number } = {},
): Promise<DryRunReport> {
  const pre = await preflightCopy(input);
  const samples: Record<string, SampleRow[]> = {};
  // Without a test password (a dry run does not need one) the samples show a placeholder.
  const passwordHash = input.mode === "anonymized"
    ? input.passwordHash ?? "(bcrypt of STAGECOACH_TEST_PASSWORD)"
    : null;
  const mask = maskOptions(pre, {
    manifest: input.manifest,
    mode: input.mode as CopyMode,
    passwordHash,
  });
  const session = {
    sqlKey: input.sqlKey,
    statementTimeoutS: statementTimeoutFor(input.selection, input.statementTimeoutS),
  };
  await readSource(input.source, session, async (stx) => {
    for (const table of USER_TABLES) {
      const rules = input.manifest.tables[table.name] ?? {};
      const columns = pre.columns[table.name].filter((c) => !c.generated);
      const before = columns.map((c, i) =>
        `(${redactedExpr(c, rules[c.name])}) as ${ident(`before_${i}`)}`
      );
      // The raw values stay on the source: only whether each one changed comes back.
      const raw = columns.map((c, i) => `t.${ident(c.name)}::text as ${ident(`raw_${i}`)}`);
      const q = buildTableSelect(table, {
        rules,
        columns,
        mask,
        extra: [...before, ...raw],
      });
      const sel = selectionPredicate(input.selection, `t.${ident(table.userColumn)}`);
      // Both sides as text, so a kept value compares equal to itself.
      const outer = [
        ...columns.map((c) => `s.${ident(c.name)}::text as ${ident(c.name)}`),
        ...columns.map((_, i) => ident(`before_${i}`)),
        ...columns.map((c, i) =>
          `s.${ident(`raw_${i}`)} is not distinct from s.${ident(c.name)}::text as ${
            ident(`same_${i}`)
          }`
        ),
      ];
      const rows = await stx.unsafe(
        `select ${outer.join(", ")} from (${q.sql} where ${sel} order by t.${
          ident(table.key)
        } limit ${opts.samples ?? 3}) as s`,
      );
      samples[table.name] = rows.map((row) => sampleRow(row, columns.map((c) => c.name)));
    }
  });
  return { preflight: pre, samples };
}

function show(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function sampleRow(row: Record<string, unknown>, columns: string[]): SampleRow {
  const out: SampleRow = { before: {}, after: {} };
  columns.forEach((name, i) => {
    const after = show(row[name]);
    const before = show(row[`before_${i}`]);
    if (!row[`same_${i}`]) {
      out.before[name] = before;
      out.after[name] = after;
    }
  });
  return out;
}
