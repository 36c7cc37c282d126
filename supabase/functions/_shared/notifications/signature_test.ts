import assert from "node:assert/strict";
import {
  parseSigningSecret,
  sign,
  verify,
  webhookHeaders,
  WebhookVerificationError,
} from "./signature.ts";

// The test vector published with the Standard Webhooks reference libraries.
const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: new Date(1614265330 * 1000),
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

Deno.test("sign matches the Standard Webhooks published test vector", async () => {
  assert.equal(await sign(VECTOR.secret, VECTOR), VECTOR.signature);
  // The whsec_ prefix is optional, as in the reference libraries.
  assert.equal(await sign(VECTOR.secret.slice(6), VECTOR), VECTOR.signature);
});

Deno.test("webhookHeaders sets webhook-id, webhook-timestamp in seconds and the signature", async () => {
  assert.deepEqual(await webhookHeaders(VECTOR.secret, VECTOR), {
    "webhook-id": VECTOR.id,
    "webhook-timestamp": "1614265330",
    "webhook-signature": VECTOR.signature,
  });
});

Deno.test("verify accepts the vector and a list holding one valid v1 signature", async () => {
  const now = VECTOR.timestamp;
  const headers = (signature: string) =>
    new Headers({
      "webhook-id": VECTOR.id,
      "webhook-timestamp": "1614265330",
      "webhook-signature": signature,
    });
  await verify(VECTOR.secret, { headers: headers(VECTOR.signature), body: VECTOR.body, now });
  await verify(VECTOR.secret, {
    headers: headers(`v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,xyz ${VECTOR.signature}`),
    body: VECTOR.body,
    now,
  });
});

Deno.test("verify refuses a changed body, a wrong secret, a stale timestamp and missing headers", async () => {
  const now = VECTOR.timestamp;
  const good = {
    "webhook-id": VECTOR.id,
    "webhook-timestamp": "1614265330",
    "webhook-signature": VECTOR.signature,
  };
  const cases: [string, Record<string, string>, string, Date, RegExp][] = [
    [VECTOR.secret, good, '{"test": 2432232315}', now, /no v1 signature matches/],
    ["whsec_" + btoa("another secret of 24 bytes"), good, VECTOR.body, now, /no v1 signature/],
    [VECTOR.secret, good, VECTOR.body, new Date(now.getTime() + 301_000), /outside the tolerance/],
    [VECTOR.secret, { ...good, "webhook-id": "" }, VECTOR.body, now, /missing/],
    [VECTOR.secret, { ...good, "webhook-timestamp": "soon" }, VECTOR.body, now, /not a number/],
    [VECTOR.secret, { ...good, "webhook-signature": "v1," }, VECTOR.body, now, /no v1 signature/],
  ];
  for (const [secret, headers, body, at, message] of cases) {
    await assert.rejects(
      verify(secret, { headers: new Headers(headers), body, now: at }),
      (err: Error) => err instanceof WebhookVerificationError && message.test(err.message),
    );
  }
});

Deno.test("parseSigningSecret refuses short and non-base64 secrets", () => {
  assert.equal(parseSigningSecret(VECTOR.secret).length, 24);
  assert.throws(() => parseSigningSecret("whsec_c2hvcnQ="), /holds 5 bytes, expected 24 to 64/);
  assert.throws(() => parseSigningSecret("whsec_not base64!"), /not whsec_ followed by base64/);
});

Deno.test("sign refuses an id containing a full stop", async () => {
  await assert.rejects(sign(VECTOR.secret, { ...VECTOR, id: "a.b" }), /contains "."/);
});
