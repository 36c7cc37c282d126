/**
 * Reading one side of a promotion: the promotable rows of every kind in scope, how many
 * memberships each tier has, and (at apply time only) the plaintext of secret entries.
 *
 * Reads run on the connection they are given; the caller decides the role. Planning reads
 * both sides with the service connection (a named service path: tier membership counts must
 * see every membership, which no person's RLS does); secret plaintext is read only from a
 * source database, inside its own short read-only transaction.
 *
 * @module
 */
import type postgres from "postgres";
import { parseJson } from "../json/lossless.ts";
import { type KindName, kindsInScope, type Scope } from "./kinds.ts";
import type { Row, RowsByKind, TierUsage } from "./plan.ts";
import { readRowsQuery } from "./sql.ts";

/** A connection or transaction. */
type Db = postgres.Sql | postgres.TransactionSql;

/** The promotable rows of every kind in scope, as the JSON text Postgres wrote per kind. */
async function readRowTexts(db: Db, scope: readonly Scope[]): Promise<[KindName, string][]> {
  const out: [KindName, string][] = [];
  for (const spec of kindsInScope(scope)) {
    const [{ rows: text }] = await db.unsafe(readRowsQuery(spec));
    out.push([spec.name, text as string]);
  }
  return out;
}

function parseRows(texts: [KindName, string][]): RowsByKind {
  const rows: RowsByKind = {};
  for (const [kind, text] of texts) rows[kind] = parseJson(text) as Row[];
  return rows;
}

/** The promotable rows of every kind in scope, as logical rows. */
export async function readRows(db: Db, scope: readonly Scope[]): Promise<RowsByKind> {
  return parseRows(await readRowTexts(db, scope));
}

/** Memberships per tier slug: all, and live (not canceled or incomplete_expired). */
export async function readTierUsage(db: Db): Promise<TierUsage> {
  const usage: TierUsage = {};
  const rows = await db<{ slug: string; memberships: number; live: number }[]>`
    select t.slug,
           count(*)::int as memberships,
           (count(*) filter (where m.status not in ('canceled', 'incomplete_expired')))::int as live
    from public.memberships as m
    join public.membership_tiers as t on t.id = m.tier_id
    group by t.slug`;
  for (const r of rows) usage[r.slug] = { memberships: r.memberships, live: r.live };
  return usage;
}

/** Everything a plan needs from one side, read in one consistent snapshot. */
export interface SideSnapshot {
  rows: RowsByKind;
  tierUsage: TierUsage;
  /**
   * The text the side was read as (rows per kind and tier usage): equal texts, equal
   * snapshots, so a re-read is compared without parsing it (absent: compared by re-planning).
   */
  text?: string;
}

/** Reads a side (rows and tier usage) on `db`, as it is in the caller's transaction. */
export async function readSideIn(db: Db, scope: readonly Scope[]): Promise<SideSnapshot> {
  const texts = await readRowTexts(db, scope);
  const tierUsage = await readTierUsage(db);
  return {
    rows: parseRows(texts),
    tierUsage,
    text: JSON.stringify([texts, Object.entries(tierUsage).sort()]),
  };
}

/**
 * The side's text only, read on `db` (for comparing with a snapshot's {@link SideSnapshot.text});
 * nothing is parsed.
 */
export async function readSideText(db: Db, scope: readonly Scope[]): Promise<string> {
  const texts = await readRowTexts(db, scope);
  return JSON.stringify([texts, Object.entries(await readTierUsage(db)).sort()]);
}

/** Reads a side in a repeatable-read, read-only transaction. */
export async function readSide(sql: postgres.Sql, scope: readonly Scope[]): Promise<SideSnapshot> {
  return await sql.begin(
    "isolation level repeatable read read only",
    (tx) => readSideIn(tx, scope),
  ) as SideSnapshot;
}

/**
 * Decrypts secret config entries in a source database (its own Vault key), checking each
 * against the fingerprint the plan promised.
 *
 * @throws {Error} when an entry is missing, not secret, or its value changed since planning
 */
export async function readSecretPlaintexts(
  sql: postgres.Sql,
  expected: Map<string, string>,
): Promise<Map<string, string>> {
  if (!expected.size) return new Map();
  const rows = await sql.begin(
    "read only",
    (tx) =>
      tx<{ key: string; fingerprint: string; plaintext: string }[]>`
      select key, secret_fingerprint as fingerprint,
             private.decrypt_config_secret(secret_ciphertext) as plaintext
      from public.app_config
      where key = any(${[...expected.keys()]}) and is_secret`,
  );
  const out = new Map<string, string>();
  for (const r of rows) {
    if (r.fingerprint !== expected.get(r.key)) {
      throw new Error(`Cannot read secret ${r.key}: it changed in the source since the plan`);
    }
    out.set(r.key, r.plaintext);
  }
  for (const key of expected.keys()) {
    if (!out.has(key)) throw new Error(`Cannot read secret ${key}: it is gone from the source`);
  }
  return out;
}
