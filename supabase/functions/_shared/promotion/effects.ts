/**
 * The record of what external systems did for a promotion (`ops.promotion_effects`): saved
 * right after each system's apply, reverted when the database step or validation fails, or
 * on rollback.
 *
 * @module
 */
import type { Sql, Tx } from "../db.ts";
import { canonicalJson, parseJson } from "../json/lossless.ts";
import type { EffectsRecord, ExternalSystem } from "./external.ts";

/** Keeps what `system` did for the promotion (replacing an earlier, reverted record). */
export async function saveEffects(
  db: Sql,
  id: string,
  opts: { system: ExternalSystem; effects: EffectsRecord },
): Promise<void> {
  await db.unsafe(
    `insert into ops.promotion_effects (promotion_id, system, effects)
     values ($1, $2, $3::text::jsonb)
     on conflict (promotion_id, system) do update set effects = excluded.effects, reverted_at = null`,
    [id, opts.system.scope, canonicalJson(opts.effects)],
  );
}

/**
 * Reverts every external effect of a promotion not reverted yet, marking each reverted.
 *
 * @returns one line per system that could not be reverted (empty when all were)
 */
export async function revertEffects(
  db: Sql | Tx,
  id: string,
  systems: readonly ExternalSystem[],
): Promise<string[]> {
  const problems: string[] = [];
  const rows = await db.unsafe(
    `select system, effects::text as effects from ops.promotion_effects
     where promotion_id = $1 and reverted_at is null`,
    [id],
  );
  for (const row of rows) {
    const system = systems.find((x) => x.scope === row.system);
    try {
      if (!system) throw new Error(`no ${row.system} settings`);
      await system.revert(id, parseJson(row.effects as string) as EffectsRecord);
      await db`
        update ops.promotion_effects set reverted_at = now()
        where promotion_id = ${id} and system = ${row.system as string}`;
    } catch (err) {
      problems.push(`Cannot revert ${row.system} changes: ${(err as Error).message}`);
    }
  }
  return problems;
}
