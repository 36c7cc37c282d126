/** Test fixtures shared by the notification tests (no tests of its own). */
import postgres from "postgres";
import { localEnv } from "../../../../scripts/local/config.ts";
import { recordPlan } from "../promotion/fixtures_test.ts";
import { NotificationPayloadSchema, type PromotionNotification } from "./payload.ts";

/** A payload as the promotions trigger writes it (keys in jsonb order). */
export const SAMPLE = NotificationPayloadSchema.parse({
  data: {
    risk: "high",
    actor: { id: "7d3f1b2c-4a5e-4f60-8a7b-9c0d1e2f3a4b", email: "ana@example.com" },
    scope: ["config", "tiers"],
    status: "approved",
    approvals: 2,
    plan_hash: "ab".repeat(32),
    source_env: "staging",
    target_env: "production",
    environment: "production",
    change_count: 3,
    promotion_id: "5f0c2b8e-1d2a-4c3b-9e4f-5a6b7c8d9e0f",
    previous_status: "awaiting_approval",
    required_approvals: 2,
  },
  type: "promotion.approved",
  timestamp: "2026-11-25T10:00:00.123456Z",
}) as PromotionNotification;

/**
 * Runs `fn` with a connection to the running development database (as `postgres`) and a
 * fresh environment `<prefix>-<random>` registered in `ops.environments`, so only the test's
 * own promotions reach the test's endpoints; removes both (and all that cascades) afterwards.
 */
export async function withScratchEnv(
  prefix: string,
  fn: (sql: postgres.Sql, env: string) => Promise<void>,
): Promise<void> {
  const sql = postgres(localEnv("development").dbUrl, { max: 3, onnotice: () => {} });
  const env = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await sql`insert into ops.environments (name, kind) values (${env}, 'staging')`;
    await fn(sql, env);
  } finally {
    await sql`delete from ops.promotions where target_env = ${env}`;
    await sql`delete from ops.environments where name = ${env}`;
    await sql.end();
  }
}

/** Plans a promotion into `env` as the database records it (no approval needed: approved). */
export async function promote(
  sql: postgres.Sql | postgres.TransactionSql,
  env: string,
): Promise<string> {
  const row = await recordPlan(sql, {
    source: "development",
    target: env,
    scope: ["config", "flags"],
    changes: 2,
  });
  return row.id;
}
