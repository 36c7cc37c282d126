/**
 * Every ETL transform of the repository, by id. A new transform is a new file in this folder
 * (see `profiles_split_full_name.ts`) listed here; bump its `version` whenever it changes.
 *
 * @module
 */
import type { Transform } from "../functions/_shared/etl/transform.ts";
import profilesSplitFullName from "./profiles_split_full_name.ts";

/** The transforms `stagecoach etl run <id>` and the ops-worker know. */
export const ETL_TRANSFORMS: readonly Transform[] = [profilesSplitFullName];
