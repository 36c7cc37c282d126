import assert from "node:assert/strict";
import { noSuch, StripeApiError } from "./errors.ts";

Deno.test("StripeApiError renders Stripe's error body", () => {
  assert.deepEqual(noSuch("product", "prod_x").toBody(), {
    error: {
      type: "invalid_request_error",
      code: "resource_missing",
      doc_url: "https://stripe.com/docs/error-codes/resource-missing",
      message: "No such product: 'prod_x'",
      param: "id",
    },
  });
  const declined = new StripeApiError(402, "card_error", "Your card was declined.", {
    code: "card_declined",
    declineCode: "generic_decline",
  });
  assert.equal(declined.toBody().error.decline_code, "generic_decline");
});
