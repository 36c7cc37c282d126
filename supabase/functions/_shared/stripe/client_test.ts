import assert from "node:assert/strict";
import Stripe from "stripe";
import {
  createStripeClient,
  describeStripeTarget,
  parseStripeEnv,
  responseTime,
  STRIPE_API_VERSION,
} from "./client.ts";

Deno.test("parseStripeEnv accepts test, live and restricted keys and an optional API base", () => {
  const env = parseStripeEnv({ STRIPE_SECRET_KEY: "sk_test_abcdefgh12", STRIPE_API_BASE: "" });
  assert.equal(env.STRIPE_API_BASE, undefined);
  assert.equal(
    parseStripeEnv({
      STRIPE_SECRET_KEY: "rk_live_abcdefgh12",
      STRIPE_API_BASE: "http://127.0.0.1:12111",
    })
      .STRIPE_API_BASE,
    "http://127.0.0.1:12111",
  );
});

Deno.test("parseStripeEnv names what is wrong without echoing secrets", () => {
  assert.throws(
    () =>
      parseStripeEnv({
        STRIPE_SECRET_KEY: "pk_test_publishable",
        STRIPE_WEBHOOK_SECRET: "nope-secret",
      }),
    (err: Error) =>
      /STRIPE_SECRET_KEY/.test(err.message) && /STRIPE_WEBHOOK_SECRET/.test(err.message) &&
      !err.message.includes("pk_test_publishable") && !err.message.includes("nope-secret"),
  );
});

Deno.test("createStripeClient points the SDK at the API base when there is one", async () => {
  const seen: string[] = [];
  const versions: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    seen.push(new URL(req.url).pathname);
    versions.push(req.headers.get("stripe-version"));
    return Response.json({ object: "list", data: [], has_more: false, url: "/v1/products" });
  });
  try {
    const stripe = createStripeClient({
      STRIPE_SECRET_KEY: "sk_test_abcdefgh12",
      STRIPE_API_BASE: `http://127.0.0.1:${server.addr.port}`,
    });
    const page = await stripe.products.list({ limit: 1 });
    assert.deepEqual(seen, ["/v1/products"]);
    assert.deepEqual(versions, [STRIPE_API_VERSION], "the pinned API version is sent");
    assert.equal(typeof responseTime(page as never), "number", "the Date header is read");
  } finally {
    await server.shutdown();
  }
});

Deno.test("describeStripeTarget tells emulator, test and live mode apart", () => {
  assert.equal(
    describeStripeTarget({ STRIPE_SECRET_KEY: "sk_test_x", STRIPE_API_BASE: "http://e" }),
    "emulator at http://e",
  );
  assert.equal(describeStripeTarget({ STRIPE_SECRET_KEY: "sk_test_x" }), "Stripe (test mode)");
  assert.equal(describeStripeTarget({ STRIPE_SECRET_KEY: "sk_live_x" }), "Stripe (live mode)");
});

Deno.test("the pinned API version is the one the stripe package targets", () => {
  assert.equal(STRIPE_API_VERSION, Stripe.API_VERSION);
});
