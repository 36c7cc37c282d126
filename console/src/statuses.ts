/**
 * The promotion statuses the list filters by: the contract's (`PROMOTION_STATUSES` in
 * `_shared/api/contract.ts`), repeated here because the contract module brings zod with it;
 * `routes_test.ts` holds the two lists equal.
 *
 * @module
 */
/** Every promotion status, in the contract's order. */
export const PROMOTION_STATUSES_SHOWN = [
  "planned",
  "awaiting_approval",
  "approved",
  "rejected",
  "expired",
  "applying",
  "succeeded",
  "failed",
  "rolled_back",
] as const;
