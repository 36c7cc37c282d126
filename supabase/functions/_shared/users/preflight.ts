/**
 * Everything a user copy checks before any row moves: the mode against both environments'
 * kinds (and the promotion gate for faithful copies), the manifest against both schemas
 * (strict: an unmapped column stops the copy, naming it), `--where` (run once on its own,
 * contained like every source read that embeds it: `source_reader.ts`), that every tier of the
 * selected memberships exists in the target, collisions of masked unique columns (among the
 * selected rows, and against rows already in the target), the selection's row counts, and how
 * each table will be loaded. Reads only.
 *
 * @module
 */
import type { Queryable, Sql } from "../db.ts";
import { JobFailure } from "../jobs/runner.ts";
import {
  environmentKind,
  type EnvKind,
  readColumns,
  readTierIds,
  readUniqueIndexes,
  tableIsEmpty,
} from "./catalog.ts";
import { type LoadMode, streamCopy } from "./copy_stream.ts";
import { checkCoverage, type ColumnInfo, type ColumnRule, type Manifest } from "./manifest.ts";
import { buildTableSelect, type CopyMode, type MaskOptions } from "./mask_sql.ts";
import { assertUsersPromotion } from "./promotion_gate.ts";
import {
  ident,
  selectedUserIds,
  type Selection,
  selectionPredicate,
  USER_TABLE_NAMES,
  USER_TABLES,
  type UserTable,
} from "./scope.ts";
import { readSource, type SourceReadOptions, statementTimeoutFor } from "./source_reader.ts";

/** What the preflight needs. */
export interface PreflightInput {
  source: Sql;
  target: Sql;
  sourceEnv: string;
  targetEnv: string;
  mode: CopyMode;
  selection: Selection;
  manifest: Manifest;
  /** The derived SQL key (anonymized mode). */
  sqlKey: string | null;
  /** Statement timeout of the source's statements with a `--where`, in seconds (default 30). */
  statementTimeoutS?: number;
  promotionId?: string;
  /** Skip the collision checks (a resumed job already passed them). */
  skipCollisions?: boolean;
}

/** What the preflight found; stored in the job so every slice compiles the same SQL. */
export interface Preflight {
  source_kind: EnvKind;
  target_kind: EnvKind;
  /** Source columns of each table. */
  columns: Record<string, ColumnInfo[]>;
  /** Target tier ids by slug. */
  tier_ids: Record<string, string>;
  /** Selected rows per table. */
  totals: Record<string, number>;
  /** How each table is loaded. */
  load: Record<string, LoadMode>;
  /** Unique indexes checked for collisions (`table.index`). */
  unique_checked: string[];
  promotion_id: string | null;
}

/**
 * The mask options a preflight implies (the password hash is added per slice).
 *
 * @param pre the preflight's target kind and tier ids
 * @param opts.manifest the manifest (its fake email domain)
 * @param opts.mode anonymized or faithful
 * @param opts.passwordHash the test password's hash anonymized users get, or null
 * @example
 * ```ts
 * const mask = maskOptions(pre, { manifest, mode: "anonymized", passwordHash });
 * ```
 */
export function maskOptions(
  pre: Pick<Preflight, "target_kind" | "tier_ids">,
  opts: { manifest: Manifest; mode: CopyMode; passwordHash: string | null },
): MaskOptions {
  return {
    mode: opts.mode,
    targetProduction: pre.target_kind === "production",
    emailDomain: opts.manifest.fake_email_domain,
    passwordHash: opts.passwordHash,
    tierIds: pre.tier_ids,
  };
}

/** Rules under which a unique column's values change and so may collide. */
const TRANSFORMING = new Set([
  "uuid",
  "hash",
  "fake_email",
  "fake_name",
  "fake_phone",
  "fake_address",
  "stripe_id",
]);
/** Rules that make an index meaningless to check (every row gets null or the same value). */
const CONSTANT = new Set(["null", "constant", "password"]);

/** Unique indexes worth checking: plain columns, at least one transformed, none constant. */
function checkableIndexes(
  indexes: { name: string; columns: string[]; partial: boolean }[],
  rules: Record<string, ColumnRule>,
  columns: ColumnInfo[],
  mode: CopyMode,
  targetProduction: boolean,
): { name: string; columns: string[]; partial: boolean }[] {
  const generated = new Set(columns.filter((c) => c.generated).map((c) => c.name));
  return indexes.filter((ix) =>
    ix.columns.every((c) => c !== "?" && rules[c] && !generated.has(c)) &&
    (mode === "faithful" ||
      (ix.columns.some((c) => TRANSFORMING.has(rules[c].rule)) &&
        !ix.columns.some((c) => CONSTANT.has(rules[c].rule)) &&
        !ix.columns.some((c) => {
          const r = rules[c];
          return r.rule === "stripe_id" && (targetProduction || r.otherwise === "null");
        })))
  );
}

/**
 * `fn` over `items`, two at a time, results in their order. Every call is awaited before it
 * returns; the first failure (in the items' order) is then thrown.
 */
async function mapTwoAtATime<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: "fulfilled", value: await fn(items[i]) };
      } catch (reason) {
        out[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all([worker(), worker()]);
  return out.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  });
}

/**
 * Runs the `--where` once on its own, contained as every source read is, and reports what
 * stops it (a syntax error, a table the copy reader may not read, a write, the timeout) as a
 * problem of the predicate, before any row moves.
 *
 * @returns how many users it selects
 * @throws {JobFailure} `invalid_where`
 */
async function checkWhere(source: Sql, where: string, session: SourceReadOptions) {
  try {
    const [{ n }] = await readSource(
      source,
      session,
      (tx) => tx.unsafe(`select count(*)::bigint as n from ${selectedUserIds(where)} as s(id)`),
    );
    return Number(n);
  } catch (err) {
    const e = err as { message?: string; details?: { sqlstate?: string }; code?: string };
    const sqlstate = e.details?.sqlstate ?? e.code;
    const reason = e.message?.replace(/^Cannot read the source: /, "") ?? String(err);
    throw new JobFailure("invalid_where", `Cannot use --where: ${reason}`, { where, sqlstate });
  }
}

/**
 * Counts masked values of the table's checkable unique indexes that two different source
 * values share (a collision the fake introduced), among the selected rows.
 */
async function sourceCollisions(
  source: Queryable,
  select: (cols: ColumnInfo[], extra: string[]) => string,
  columns: ColumnInfo[],
  indexes: { name: string; columns: string[] }[],
  sel: string,
): Promise<{ index: string; columns: string[]; collisions: number }[]> {
  if (!indexes.length) return [];
  const needed = [...new Set(indexes.flatMap((ix) => ix.columns))];
  const cols = columns.filter((c) => needed.includes(c.name));
  const inner = select(cols, cols.map((c) => `t.${ident(c.name)} as ${ident(`src_${c.name}`)}`));
  const checks = indexes.map((ix, i) => {
    const masked = ix.columns.map((c) => `m.${ident(c)}`);
    const src = ix.columns.map((c) => `m.${ident(`src_${c}`)}`);
    const srcTuple = src.length === 1 ? src[0] : `row(${src.join(", ")})`;
    return `(select count(*)::int from (select 1 from m where ${
      masked.map((m) => `${m} is not null`).join(" and ")
    } group by ${masked.join(", ")} having count(distinct ${srcTuple}) > 1) as d) as c${i}`;
  });
  const [row] = await source.unsafe(
    `with m as materialized (${inner} where ${sel}) select ${checks.join(", ")}`,
  );
  return indexes.map((ix, i) => ({
    index: ix.name,
    columns: ix.columns,
    collisions: Number(row[`c${i}`]),
  }));
}

/**
 * Counts selected rows whose masked unique values already belong to a different row of the
 * target (so loading them would fail): the masked tuples are streamed into a temporary table
 * of the target and joined. Only for tables that already have rows.
 */
async function targetCollisions(
  source: Sql,
  target: Sql,
  table: UserTable,
  select: (cols: ColumnInfo[], extra: string[]) => string,
  columns: ColumnInfo[],
  indexes: { name: string; columns: string[]; partial: boolean }[],
  sel: string,
  session: SourceReadOptions,
): Promise<{ index: string; columns: string[]; collisions: number }[]> {
  // Partial unique indexes (a predicate on other columns) are left to the load itself.
  const others = indexes.filter((ix) =>
    !ix.partial && !(ix.columns.length === 1 && ix.columns[0] === table.key)
  );
  if (!others.length) return [];
  const needed = [...new Set([table.key, ...others.flatMap((ix) => ix.columns)])];
  const cols = columns.filter((c) => needed.includes(c.name));
  const names = cols.map((c) => ident(c.name)).join(", ");
  const inner = select(cols, []);
  return await readSource(source, session, async (stx) => {
    return await target.begin(async (ttx) => {
      await ttx.unsafe(
        `create temp table _sc_keys on commit drop as select ${names} from ${
          ident(table.name)
        } with no data`,
      );
      await streamCopy(stx, ttx, {
        copyOut: `copy (${inner} where ${sel}) to stdout`,
        copyIn: `copy _sc_keys (${names}) from stdin`,
      });
      const out = [];
      for (const ix of others) {
        const on = ix.columns.map((c) => `d.${ident(c)} = k.${ident(c)}`).join(" and ");
        const [r] = await ttx.unsafe(
          `select count(*)::int as n from _sc_keys as k join ${ident(table.name)} as d
           on ${on} where d.${ident(table.key)} <> k.${ident(table.key)}`,
        );
        out.push({ index: ix.name, columns: ix.columns, collisions: Number(r.n) });
      }
      return out;
    });
  });
}

/**
 * Runs every check of a copy before anything is written.
 *
 * @returns the facts the copy needs
 * @throws {JobFailure} with code `same_environment`, `anonymized_into_production`,
 * `faithful_needs_production`, `promotion_required`, `promotion_not_approved`,
 * `unmapped_column`, `invalid_where`, `missing_tier` or `collision`; the message names the
 * table and column (or tier, index) at fault
 */
export async function preflightCopy(input: PreflightInput): Promise<Preflight> {
  const { source, target, mode, manifest, selection } = input;
  if (input.sourceEnv === input.targetEnv) {
    throw new JobFailure(
      "same_environment",
      `Cannot copy users: source and target are both ${input.sourceEnv}`,
    );
  }
  const sourceKind = await environmentKind(source, input.sourceEnv);
  const targetKind = await environmentKind(target, input.targetEnv);
  let promotionId: string | null = null;
  if (mode === "anonymized" && targetKind === "production") {
    throw new JobFailure(
      "anonymized_into_production",
      `Cannot copy users anonymized into ${input.targetEnv}: it is a production environment (only a faithful copy through an approved promotion may go there)`,
    );
  }
  if (mode === "faithful") {
    if (targetKind !== "production") {
      throw new JobFailure(
        "faithful_needs_production",
        `Cannot copy users faithfully into ${input.targetEnv}: it is a ${targetKind} environment, and real user data only moves into production (use the anonymized mode)`,
      );
    }
    promotionId = (await assertUsersPromotion(target, {
      promotionId: input.promotionId,
      sourceEnv: input.sourceEnv,
      targetEnv: input.targetEnv,
    })).id;
  }

  const [srcCols, tgtCols] = await Promise.all([
    readColumns(source, USER_TABLE_NAMES),
    readColumns(target, USER_TABLE_NAMES),
  ]);
  const problems = checkCoverage(manifest, {
    tables: USER_TABLE_NAMES,
    source: srcCols,
    target: tgtCols,
  });
  if (problems.length) {
    throw new JobFailure(
      "unmapped_column",
      `Cannot copy users: ${problems.map((p) => p.message).join("; ")}`,
      { problems: problems.map(({ table, column, problem }) => ({ table, column, problem })) },
    );
  }
  const session: SourceReadOptions = {
    sqlKey: input.sqlKey,
    statementTimeoutS: statementTimeoutFor(selection, input.statementTimeoutS),
  };
  if (selection.where !== undefined) await checkWhere(source, selection.where, session);

  const tierIds = await readTierIds(target);
  const membershipSel = selectionPredicate(selection, "t.user_id");
  const slugs = await readSource(source, session, (tx) =>
    tx.unsafe(
      `select distinct tier.slug from public.memberships as t
       join public.membership_tiers as tier on tier.id = t.tier_id
       where ${membershipSel} order by 1`,
    ));
  const missing = slugs.map((r) => String(r.slug)).filter((s) => !(s in tierIds));
  if (missing.length) {
    throw new JobFailure(
      "missing_tier",
      `Cannot copy users: ${input.targetEnv} has no tier with slug ${
        missing.join(", ")
      } (memberships point to the target's tiers by slug; promote the tiers first)`,
      { slugs: missing },
    );
  }

  const pre: Preflight = {
    source_kind: sourceKind,
    target_kind: targetKind,
    columns: srcCols,
    tier_ids: tierIds,
    totals: {},
    load: {},
    unique_checked: [],
    promotion_id: promotionId,
  };
  // A placeholder hash compiles the same SQL shape; no password is involved in these checks.
  const opts = maskOptions(pre, {
    manifest,
    mode,
    passwordHash: mode === "anonymized" ? "$2a$10$x" : null,
  });
  // Two tables at a time (each check is one statement on a core), as the copy itself runs.
  const checked = await mapTwoAtATime(USER_TABLES, async (table) => {
    const rules = manifest.tables[table.name] ?? {};
    const columns = srcCols[table.name];
    const sel = selectionPredicate(selection, `t.${ident(table.userColumn)}`);
    const compile = (cols: ColumnInfo[], extra: string[]) =>
      buildTableSelect(table, { rules, columns: cols, mask: opts, extra }).sql;
    compile(columns, []);
    const [{ n }] = await readSource(
      source,
      session,
      (tx) => tx.unsafe(`select count(*)::bigint as n from ${ident(table.name)} as t where ${sel}`),
    );
    const load: LoadMode = (await tableIsEmpty(target, table.name)) ? "copy" : "merge";
    if (input.skipCollisions) return { total: Number(n), load, indexes: [], bad: [] };
    const indexes = checkableIndexes(
      await readUniqueIndexes(target, table.name),
      rules,
      columns,
      mode,
      pre.target_kind === "production",
    );
    const found = mode === "anonymized"
      ? await readSource(
        source,
        session,
        (stx) => sourceCollisions(stx, compile, columns, indexes, sel),
      )
      : [];
    if (load === "merge") {
      found.push(
        ...await targetCollisions(
          source,
          target,
          table,
          compile,
          columns,
          indexes,
          sel,
          session,
        ),
      );
    }
    return { total: Number(n), load, indexes, bad: found.filter((f) => f.collisions > 0) };
  });
  USER_TABLES.forEach((table, i) => {
    const { total, load, indexes, bad } = checked[i];
    pre.totals[table.name] = total;
    pre.load[table.name] = load;
    pre.unique_checked.push(...indexes.map((ix) => `${table.name}.${ix.name}`));
    if (bad.length) {
      throw new JobFailure(
        "collision",
        `Cannot copy users: masked values collide in ${
          bad.map((b) => `${table.name} (${b.columns.join(", ")}): ${b.collisions}`).join("; ")
        } (nothing was written; a longer hash or another key avoids it)`,
        { table: table.name, collisions: bad },
      );
    }
  });
  return pre;
}
