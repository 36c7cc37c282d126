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
  return await db<RollbackConflict[]>`
    select distinct later.id::text as promotion_id, s2.kind, s2.natural_key
    from ops.promotions as this
    join ops.promotion_snapshots as s1 on s1.promotion_id = this.id
    join ops.promotion_snapshots as s2
      on s2.kind = s1.kind and s2.natural_key = s1.natural_key and s2.promotion_id <> this.id
    join ops.promotions as later on later.id = s2.promotion_id
    where this.id = ${promotionId}
      and later.status in ('succeeded', 'applying')
      and later.applied_at > this.applied_at
    order by 1, 2, 3`;
}

async function columnsOf(tx: Tx, table: string): Promise<string[]> {
  const [{ cols }] = await tx<{ cols: string[] }[]>`
    select array_agg(quote_ident(attname) order by attnum) as cols
    from pg_catalog.pg_attribute
    where attrelid = ${table}::regclass and attnum > 0 and not attisdropped and attgenerated = ''`;
  return cols;
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
      `update ${spec.table} as t set ${cols.map((c) => `${c} = r.${c}`).join(", ")}
       ${images} and t.${spec.idColumn} = r.${spec.idColumn}`,
      [promotionId, spec.table],
    );
    await tx.unsafe(
      `insert into ${spec.table} (${cols.join(", ")})
       select ${cols.map((c) => `r.${c}`).join(", ")}
       ${images}
         and not exists (select 1 from ${spec.table} as t where t.${spec.idColumn} = r.${spec.idColumn})
       order by s.seq`,
      [promotionId, spec.table],
    );
  }
  return n;
}
