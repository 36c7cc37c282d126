/**
 * The webhook's batches against the running development stack's database: one bad event in a
 * batch fails alone, concurrent deliveries of one event have one effect, and the batch's
 * JSON literal reaches Postgres exactly.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import { uniqueSuffix } from "../scripts/local/stripe_emulator/testing.ts";
import { planEvent } from "../supabase/functions/_shared/stripe/events.ts";
import {
  createIngestBatcher,
  ingestBatchOrEach,
  type IngestItem,
  jsonbLiteral,
} from "../supabase/functions/_shared/stripe/mirror.ts";

const env = localEnv("development");

/** A product.created event as Stripe sends it, with its raw body. */
function productEvent(productId: string, name: string): IngestItem {
  const id = `evt_batch${uniqueSuffix()}`;
  const body = JSON.stringify({
    id,
    object: "event",
    type: "product.created",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: { object: { id: productId, object: "product", name, active: true, metadata: {} } },
  });
  return { ...planEvent(JSON.parse(body)), body };
}

Deno.test("a batch with one bad event fails only that event, and writes nothing of it", async () => {
  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  try {
    const good = productEvent(`prod_batch${uniqueSuffix()}`, "Good");
    // The mirror refuses this id (check constraint: Stripe's ids are at most 5000 characters):
    // the batch rolls back and is replayed item by item.
    const badId = `prod_${"x".repeat(5000)}`;
    const bad = productEvent(badId, "Bad");
    const [a, b] = await ingestBatchOrEach(sql, [good, bad]);
    assert.deepEqual(a, { status: "fulfilled", value: { outcome: "processed", error: null } });
    assert.equal(b.status, "rejected");
    const ledger = await sql<{ id: string; status: string }[]>`
      select id, status from stripe.events where id in ${sql([good.meta.id, bad.meta.id])}`;
    assert.deepEqual([...ledger], [{ id: good.meta.id, status: "processed" }]);
    const products = await sql`select 1 from stripe.products where id = ${badId}`;
    assert.equal(products.length, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("concurrent deliveries of one event share batches and have one effect", async () => {
  const sql = postgres(env.dbUrl, { max: 4, onnotice: () => {} });
  try {
    const batcher = createIngestBatcher(sql);
    const item = productEvent(`prod_batch${uniqueSuffix()}`, "Once");
    const other = productEvent(`prod_batch${uniqueSuffix()}`, "Other");
    const outcomes = await Promise.all(
      [item, item, item, other, item, item, item].map((i) => batcher.submit(i)),
    );
    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[o.outcome] = (counts[o.outcome] ?? 0) + 1;
    assert.deepEqual(counts, { processed: 2, duplicate: 5 });
    const [row] = await sql<{ attempts: number; status: string }[]>`
      select attempts, status from stripe.events where id = ${item.meta.id}`;
    assert.deepEqual(row, { attempts: 6, status: "processed" });
  } finally {
    await sql.end();
  }
});

Deno.test("jsonbLiteral reads back in Postgres exactly as the JSON it quotes", async () => {
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  try {
    const json =
      String.raw`{"quote":"it's ''odd''","backslash":"C:\\x\\'","escape":"\n\t\"\u00e9",` +
      `"unicode":"Zürich 東京 🚀","big":9007199254740993,"decimal":0.1000000000000000055511151231257827}`;
    const [viaLiteral] = await sql.unsafe(`select (${jsonbLiteral(json)})::text as t`);
    const [viaParameter] = await sql`select ${json}::text::jsonb::text as t`;
    assert.equal(viaLiteral.t, viaParameter.t);
    assert.match(viaLiteral.t, /9007199254740993/);
  } finally {
    await sql.end();
  }
});
