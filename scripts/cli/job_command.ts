/**
 * The CLI's side of the job engine, shared by every command that runs a job (`users copy`,
 * `etl run`, `stripe reconcile`).
 *
 * @module
 */
import { ETL_TRANSFORMS } from "../../supabase/etl/transforms.ts";
import { createEtlKind } from "../../supabase/functions/_shared/etl/run_job.ts";
import {
  createJobRegistry,
  type JobRegistry,
} from "../../supabase/functions/_shared/jobs/registry.ts";
import { reconcileKind } from "../../supabase/functions/_shared/stripe/reconcile.ts";
import { usersCopyKind } from "../../supabase/functions/_shared/users/copy_job.ts";

/**
 * The job kinds the CLI runs: user copies, ETL transforms and Stripe reconciliation.
 *
 * @returns a fresh registry of those kinds
 */
export function cliJobRegistry(): JobRegistry {
  return createJobRegistry([usersCopyKind, createEtlKind(ETL_TRANSFORMS), reconcileKind]);
}
