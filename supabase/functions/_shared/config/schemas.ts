/**
 * The registered schemas of config values: a config key listed here must hold a value its
 * schema accepts, in every environment; validation checks it after each apply. Keys not
 * listed are free-form. Add a key here when the app starts depending on its shape.
 *
 * @module
 */
import { z } from "zod";

const currency = z.string().regex(/^[a-z]{3}$/);

/** Config key → zod schema of its value. */
export const CONFIG_SCHEMAS: Record<string, z.ZodType> = {
  site_url: z.url(),
  "billing.trial_days": z.number().int().min(0).max(365),
  "billing.grace_period": z.object({
    days: z.number().int().min(0).max(90),
    reminders: z.array(z.number().int().min(0)),
    downgrade_to: z.string().min(1),
  }),
  "billing.checkout": z.object({
    allow_promotion_codes: z.boolean(),
    collect_tax_id: z.boolean(),
    currencies: z.array(currency).min(1),
  }),
  "email.sender": z.object({
    name: z.string().min(1),
    address: z.email(),
    reply_to: z.email().optional(),
  }),
  "limits.api": z.object({
    requests_per_minute: z.record(z.string(), z.number().int().positive()),
    burst: z.number().positive(),
  }),
};
