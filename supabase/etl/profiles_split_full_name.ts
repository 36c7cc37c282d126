/**
 * ETL transform `profiles_split_full_name` (v1): fills `profiles.given_name` and
 * `family_name` (migration `add_profile_name_parts`) from `full_name`, for profiles that have
 * a full name and neither part yet. Run it with
 * `stagecoach etl run profiles_split_full_name --env <env> [--dry-run]`.
 *
 * The split ({@link splitFullName}) handles what real sign-up data contains: extra spaces,
 * "Family, Given", titles (Dr., Mrs …) and suffixes (Jr., III, PhD …), family-name particles
 * ("van der", "de la", "bin" …), multiple given names, and single names or scripts written
 * without spaces (all given name).
 *
 * @module
 */
import { defineTransform } from "../functions/_shared/etl/transform.ts";

const TITLES = new Set([
  "mr",
  "mrs",
  "ms",
  "miss",
  "mx",
  "dr",
  "prof",
  "sir",
  "dame",
  "rev",
]);
const SUFFIXES = new Set(["jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"]);
const PARTICLES = new Set([
  "van",
  "von",
  "der",
  "den",
  "de",
  "del",
  "della",
  "di",
  "da",
  "du",
  "la",
  "le",
  "dos",
  "das",
  "bin",
  "binti",
  "al",
  "el",
  "ter",
  "ten",
  "st",
  "mac",
]);

const bare = (token: string) => token.toLowerCase().replace(/[.,]/g, "");
const MAX = 100;
const cut = (s: string | null) => (s === null ? null : s.slice(0, MAX).trim() || null);

/**
 * Splits a full name into given and family name.
 *
 * @returns both parts (null when absent), or null for an empty name
 * @example
 * ```ts
 * splitFullName("Ludwig van Beethoven"); // { given_name: "Ludwig", family_name: "van Beethoven" }
 * splitFullName("Lovelace, Ada");        // { given_name: "Ada", family_name: "Lovelace" }
 * ```
 */
export function splitFullName(
  full: string | null,
): { given_name: string | null; family_name: string | null } | null {
  const name = (full ?? "").replace(/\s+/g, " ").trim();
  if (!name) return null;
  const comma = name.split(",").map((s) => s.trim()).filter(Boolean);
  if (comma.length === 2 && !SUFFIXES.has(bare(comma[1]))) {
    return { given_name: cut(comma[1]), family_name: cut(comma[0]) };
  }
  let tokens = name.replace(/,/g, " ").split(" ").filter(Boolean);
  while (tokens.length > 1 && TITLES.has(bare(tokens[0]))) tokens = tokens.slice(1);
  const suffixes: string[] = [];
  while (tokens.length > 2 && SUFFIXES.has(bare(tokens[tokens.length - 1]))) {
    suffixes.unshift(tokens.pop()!);
  }
  if (tokens.length === 1) {
    return {
      given_name: cut(tokens[0]),
      family_name: suffixes.length ? cut(suffixes.join(" ")) : null,
    };
  }
  // The family name starts at the first lower-case particle after the first token, else it is
  // the last token.
  let start = tokens.length - 1;
  for (let i = 1; i < tokens.length - 1; i++) {
    if (PARTICLES.has(tokens[i]) && tokens[i] === tokens[i].toLowerCase()) {
      start = i;
      break;
    }
  }
  return {
    given_name: cut(tokens.slice(0, start).join(" ")),
    family_name: cut([...tokens.slice(start), ...suffixes].join(" ")),
  };
}

/** The transform. */
export default defineTransform({
  id: "profiles_split_full_name",
  version: 1,
  description: "Fill profiles.given_name and family_name from full_name",
  table: "public.profiles",
  key: "id",
  reads: ["full_name"],
  writes: ["given_name", "family_name"],
  guard: "given_name is null and family_name is null and nullif(btrim(full_name), '') is not null",
  transform(row) {
    return splitFullName(row.full_name as string | null);
  },
});
