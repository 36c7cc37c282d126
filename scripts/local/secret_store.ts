/**
 * The function secrets of one local environment, as `supabase secrets set|unset` leave them
 * through the Management API stand-in: a JSON file (mode 600) of name → value and time set.
 *
 * @module
 */

/** One stored secret. */
export interface StoredSecret {
  value: string;
  /** ISO 8601, when it was last set. */
  updated_at: string;
}

/**
 * Reads an environment's secrets.
 *
 * @param file the environment's `secretsFile`
 * @returns name → secret; none when nothing was ever set
 */
export async function readSecrets(file: string): Promise<Record<string, StoredSecret>> {
  try {
    return JSON.parse(await Deno.readTextFile(file)) as Record<string, StoredSecret>;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    throw err;
  }
}

/**
 * Sets and removes secrets in one write; a value set again unchanged keeps its `updated_at`.
 *
 * @param file the environment's `secretsFile`
 * @param change the values to set and the names to remove
 * @returns whether anything changed
 * @example
 * ```ts
 * await updateSecrets(env.secretsFile, { set: { STRIPE_SECRET_KEY: "sk_test_…" } });
 * ```
 */
export async function updateSecrets(
  file: string,
  change: { set?: Record<string, string>; unset?: string[] },
): Promise<boolean> {
  const secrets = await readSecrets(file);
  let changed = false;
  const now = new Date().toISOString();
  for (const [name, value] of Object.entries(change.set ?? {})) {
    if (secrets[name]?.value === value) continue;
    secrets[name] = { value, updated_at: now };
    changed = true;
  }
  for (const name of change.unset ?? []) {
    if (name in secrets) {
      delete secrets[name];
      changed = true;
    }
  }
  if (changed) {
    const tmp = `${file}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
    await Deno.rename(tmp, file);
  }
  return changed;
}
