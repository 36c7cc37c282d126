-- Reverts 20261208000400_pin_stripe_membership_search_path: both functions run with the caller's
-- search_path again, as 20261206000300 created them.

alter function stripe.apply_membership(text) reset search_path;
alter function stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text)
  reset search_path;
