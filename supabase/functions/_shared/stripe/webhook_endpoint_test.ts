import assert from "node:assert/strict";
import { startInProcessEmulator } from "../../../../scripts/local/stripe_emulator/testing.ts";
import { STRIPE_API_VERSION } from "./client.ts";
import { HANDLED_EVENT_TYPES } from "./events.ts";
import { ensureWebhookEndpoint, storedEndpointSecret } from "./webhook_endpoint.ts";
import type { Queryable } from "../db.ts";

Deno.test("ensureWebhookEndpoint creates, keeps, repairs and rolls an endpoint", async () => {
  const emu = await startInProcessEmulator();
  try {
    const url = "http://127.0.0.1:9/functions/v1/stripe-webhook";
    const created = await ensureWebhookEndpoint(emu.stripe, { url, known: null });
    assert.equal(created.action, "created");
    assert.match(created.secret, /^whsec_/);
    const fresh = await emu.stripe.webhookEndpoints.retrieve(created.endpoint_id);
    assert.equal(fresh.api_version, STRIPE_API_VERSION, "the endpoint is pinned");
    const known = { endpoint_id: created.endpoint_id, secret: created.secret };

    const kept = await ensureWebhookEndpoint(emu.stripe, { url, known });
    assert.deepEqual(kept, { ...known, action: "kept" });

    await emu.stripe.webhookEndpoints.update(created.endpoint_id, {
      disabled: true,
      enabled_events: ["price.created"],
    });
    const repaired = await ensureWebhookEndpoint(emu.stripe, { url, known });
    assert.equal(repaired.action, "updated");
    const endpoint = await emu.stripe.webhookEndpoints.retrieve(created.endpoint_id);
    assert.equal(endpoint.status, "enabled");
    assert.deepEqual([...endpoint.enabled_events].sort(), [...HANDLED_EVENT_TYPES].sort());

    const older = await emu.stripe.webhookEndpoints.create({
      url,
      enabled_events: [...HANDLED_EVENT_TYPES] as never,
      api_version: "2025-02-24.acacia",
    });
    const repinned = await ensureWebhookEndpoint(emu.stripe, {
      url,
      known: { endpoint_id: older.id, secret: older.secret! },
    });
    assert.equal(repinned.action, "rolled", "an endpoint on another API version is rolled");
    assert.equal(
      (await emu.stripe.webhookEndpoints.retrieve(repinned.endpoint_id)).api_version,
      STRIPE_API_VERSION,
    );

    const rolled = await ensureWebhookEndpoint(emu.stripe, { url, known: null });
    assert.equal(rolled.action, "rolled");
    assert.notEqual(rolled.endpoint_id, created.endpoint_id);
    const all = await emu.stripe.webhookEndpoints.list();
    assert.deepEqual(
      all.data.map((e) => e.id),
      [rolled.endpoint_id],
      "the endpoint whose secret was lost is gone",
    );
  } finally {
    await emu.close();
  }
});

Deno.test("storedEndpointSecret reads the recorded secret once per ttl", async () => {
  let queries = 0;
  let clock = 0;
  const secrets = ["whsec_first", "whsec_second"];
  const sql = (() => Promise.resolve([{ secret: secrets[queries++] }])) as unknown as Queryable;
  const read = storedEndpointSecret(sql, { ttlMs: 1_000, now: () => clock });
  assert.equal(await read(), "whsec_first");
  clock = 999;
  assert.equal(await read(), "whsec_first", "a read within the ttl is cached");
  assert.equal(queries, 1);
  clock = 1_000;
  assert.equal(await read(), "whsec_second", "the ttl over, it reads again");
  assert.equal(queries, 2);
});
