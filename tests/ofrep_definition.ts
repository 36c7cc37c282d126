/**
 * Checks an answer of the `flags` function against OFREP's published response schemas, kept
 * as facts in `tests/fixtures/flags/ofrep_schemas.json` (its `provenance` names the commit and
 * how two constructs of the definition are read), with Ajv.
 *
 * @module
 */
import { Ajv } from "ajv";
import definition from "./fixtures/flags/ofrep_schemas.json" with { type: "json" };

/** The two OFREP routes. */
export type OfrepRoute = "single" | "bulk";

const ajv = new Ajv({ allErrors: true, strict: true });
ajv.addSchema({ $id: "ofrep", definitions: definition.definitions });

/**
 * What is wrong with an answer, by the schema of its route and status.
 *
 * @param route `single` (`/evaluate/flags/{key}`) or `bulk` (`/evaluate/flags`)
 * @param status the HTTP status
 * @param body the parsed body
 * @returns the problems (Ajv's instance path and message); empty when it conforms
 * @example
 * ```ts
 * ofrepProblems("single", 404, { key: "x", errorCode: "FLAG_NOT_FOUND" }); // []
 * ```
 */
export function ofrepProblems(route: OfrepRoute, status: number, body: unknown): string[] {
  const routes: Record<string, Record<string, string>> = definition.routes;
  const name = routes[route][String(status)];
  if (!name) return [`OFREP defines no ${status} body for the ${route} route`];
  const validate = ajv.getSchema(`ofrep#/definitions/${name}`)!;
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${name}${e.instancePath} ${e.message}`);
}
