/**
 * Restoring a target from a promotion's snapshots, entirely in SQL (images never leave the
 * database, so nothing is rounded): rows the promotion created are deleted (child-first), rows
 * it changed get their whole before-image back (timestamps and ids included), rows it deleted
 * come back — parent-first. The result is the target as it was, byte for byte.
 *
 * @module
 */
import type postgres from "postgres";
import { KINDS } from "./kinds.ts";

type Tx = postgres.TransactionSql;
type Db = postgres.Sql | Tx;

/** A later promotion that touched a key this one touched. */
export interface RollbackConflict {
  promotion_id: string;
  kind: string;
  natural_key: string;
}

/**
 * Later, still-applied promotions (succeeded or applying) that touched the same keys:
 * rolling back under them would silently undo their work.
 */
export async function findRollbackConflicts(
  db: Db,
  promotionId: string,
): Promise<RollbackConflict[]> {
  const sameKey = await db<RollbackConflict[]>`
    select distinct later.id::text as promotion_id, s2.kind, s2.natural_key
    from ops.promotions as this
    join ops.promotion_snapshots as s1 on s1.promotion_id = this.id
    join ops.promotion_snapshots as s2
      on s2.kind = s1.kind and s2.natural_key = s1.natural_key and s2.promotion_id <> this.id
    join ops.promotions as later on later.id = s2.promotion_id
    where this.id = ${promotionId}
      and later.status in ('succeeded', 'applying')
      and later.applied_at > this.applied_at`;
  // Rows this promotion created take their children with them when rolled back (cascade):
  // a later promotion's work on such a child is a conflict too.
  const children: RollbackConflict[] = [];
  for (const child of KINDS.filter((k) => k.parent)) {
    const parent = KINDS.find((k) => k.name === child.parent!.kind)!;
    children.push(
      ...await db.unsafe(
        `select distinct later.id::text as promotion_id, s2.kind, s2.natural_key
         from ops.promotions as this
         join ops.promotion_snapshots as s1
           on s1.promotion_id = this.id and s1.table_name = $2 and s1.before is null
         join ${child.table} as c on c.${child.parent!.column}::text = s1.row_id
         join ops.promotion_snapshots as s2
           on s2.table_name = $3 and s2.row_id = c.${child.idColumn}::text
          and s2.promotion_id <> this.id
         join ops.promotions as later on later.id = s2.promotion_id
         where this.id = $1 and later.status in ('succeeded', 'applying')
           and later.applied_at > this.applied_at`,
        [promotionId, parent.table, child.table],
      ) as unknown as RollbackConflict[],
    );
  }
  const seen = new Set<string>();
  return [...sameKey, ...children]
    .filter((c) => {
      const id = `${c.promotion_id} ${c.kind} ${c.natural_key}`;
      return !seen.has(id) && !!seen.add(id);
    })
    .sort((a, b) =>
      `${a.promotion_id} ${a.kind} ${a.natural_key}`.localeCompare(
        `${b.promotion_id} ${b.kind} ${b.natural_key}`,
      )
    );
}

/** Columns of a table with whether each is JSONB. */
async function columnsOf(tx: Tx, table: string): Promise<{ name: string; jsonb: boolean }[]> {
  return await tx<{ name: string; jsonb: boolean }[]>`
    select quote_ident(attname) as name, atttypid = 'jsonb'::regtype as jsonb
    from pg_catalog.pg_attribute
    where attrelid = ${table}::regclass and attnum > 0 and not attisdropped and attgenerated = ''
    order by attnum`;
}

/** The restored value of a column: JSON null stays JSONB `null` unless it was SQL NULL. */
function restored(col: { name: string; jsonb: boolean }): string {
  return col.jsonb
    ? `case when '${col.name}' = any(s.sql_nulls) then null else coalesce(r.${col.name}, 'null'::jsonb) end`
    : `r.${col.name}`;
}

/**
 * Restores every row a promotion touched. Call inside a transaction, as the table owner.
 *
 * @returns how many snapshot rows were applied
 */
export async function restoreSnapshots(tx: Tx, promotionId: string): Promise<number> {
  const [{ n }] = await tx<{ n: number }[]>`
    select count(*)::int as n from ops.promotion_snapshots where promotion_id = ${promotionId}`;
  for (const spec of [...KINDS].sort((a, b) => b.order - a.order)) {
    await tx.unsafe(
      `delete from ${spec.table} as t
       using ops.promotion_snapshots as s
       where s.promotion_id = $1 and s.table_name = $2 and s.before is null
         and t.${spec.idColumn}::text = s.row_id`,
      [promotionId, spec.table],
    );
  }
  for (const spec of [...KINDS].sort((a, b) => a.order - b.order)) {
    const cols = await columnsOf(tx, spec.table);
    const images = `from ops.promotion_snapshots as s,
         jsonb_populate_record(null::${spec.table}, s.before) as r
       where s.promotion_id = $1 and s.table_name = $2 and s.before is not null`;
    await tx.unsafe(
      `update ${spec.table} as t set ${cols.map((c) => `${c.name} = ${restored(c)}`).join(", ")}
       ${images} and t.${spec.idColumn} = r.${spec.idColumn}`,
      [promotionId, spec.table],
    );
    await tx.unsafe(
      `insert into ${spec.table} (${cols.map((c) => c.name).join(", ")})
       select ${cols.map(restored).join(", ")}
       ${images}
         and not exists (select 1 from ${spec.table} as t where t.${spec.idColumn} = r.${spec.idColumn})
       order by s.seq`,
      [promotionId, spec.table],
    );
  }
  return n;
}
