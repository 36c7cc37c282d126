import assert from "node:assert/strict";
import Stripe from "stripe";
import { cryptoProvider } from "./client.ts";
import { checkSignature, parseSignatureHeader } from "./signature.ts";

const secret = "whsec_signature_test_secret_01";
const body = JSON.stringify({ id: "evt_1", object: "event" }, null, 2);

async function stripeHeader(opts: { timestamp: number; secret?: string; payload?: string }) {
  return await new Stripe("sk_test_signature").webhooks.generateTestHeaderStringAsync({
    payload: opts.payload ?? body,
    secret: opts.secret ?? secret,
    timestamp: opts.timestamp,
    cryptoProvider,
  });
}

Deno.test("checkSignature accepts what Stripe's SDK signs, within the tolerance", async () => {
  const now = 1_800_000_000;
  const header = await stripeHeader({ timestamp: now - 299 });
  assert.deepEqual(checkSignature(body, { header, secret, toleranceSeconds: 300, now }), {
    ok: true,
  });
});

Deno.test("checkSignature accepts any matching v1 among several and ignores other schemes", async () => {
  const now = 1_800_000_000;
  const header = await stripeHeader({ timestamp: now });
  const v1 = header.split("v1=")[1];
  const rolled = `t=${now},v0=${v1},v1=${"0".repeat(64)},v1=${v1.toUpperCase()}`;
  assert.deepEqual(checkSignature(body, { header: rolled, secret, toleranceSeconds: 300, now }), {
    ok: true,
  });
});

Deno.test("checkSignature names a missing header, a wrong signature and a stale one", async () => {
  const now = 1_800_000_000;
  const check = (header: string | undefined, s = secret) =>
    checkSignature(body, { header, secret: s, toleranceSeconds: 300, now });
  const fresh = await stripeHeader({ timestamp: now });
  assert.deepEqual(check(undefined), { ok: false, problem: "missing" });
  assert.deepEqual(check(""), { ok: false, problem: "missing" });
  assert.deepEqual(check(fresh, "whsec_another_secret"), { ok: false, problem: "invalid" });
  assert.deepEqual(check(fresh, ""), { ok: false, problem: "invalid" });
  assert.deepEqual(
    checkSignature(body + " ", { header: fresh, secret, toleranceSeconds: 300, now }),
    { ok: false, problem: "invalid" },
  );
  assert.deepEqual(check("t=1,v1=00"), { ok: false, problem: "invalid" });
  assert.deepEqual(check("garbage"), { ok: false, problem: "invalid" });
  assert.deepEqual(check(`v1=${fresh.split("v1=")[1]}`), { ok: false, problem: "invalid" });
  assert.deepEqual(check(await stripeHeader({ timestamp: now - 301 })), {
    ok: false,
    problem: "stale",
  });
  // A wrong signature is refused as wrong even when it is also old.
  assert.deepEqual(
    check(await stripeHeader({ timestamp: now - 301, secret: "whsec_another_secret" })),
    { ok: false, problem: "invalid" },
  );
  // A tolerance of 0 turns the age check off, as in Stripe's SDK.
  assert.deepEqual(
    checkSignature(body, {
      header: await stripeHeader({ timestamp: now - 10_000 }),
      secret,
      toleranceSeconds: 0,
      now,
    }),
    { ok: true },
  );
});

Deno.test("parseSignatureHeader reads the timestamp and every v1 signature", () => {
  assert.deepEqual(parseSignatureHeader("t=12, v1=AB ,v0=cd,v1=ef"), {
    timestamp: 12,
    signatures: ["ab", "ef"],
  });
  assert.equal(parseSignatureHeader("t=x,v1=ab"), null);
  assert.equal(parseSignatureHeader("t=12"), null);
});
