/**
 * Stripe's error objects: `{ "error": { "type", "code", "message", "param", "doc_url" } }`
 * with the status codes Stripe uses (400 invalid request, 401 bad key, 402 card declined,
 * 404 missing object, 409 conflict, 429 rate limited).
 *
 * @module
 */

/**
 * Stripe's error types (the `error.type` field): the four its definition allows. A bad key
 * (401) and a rate limit (429) are `invalid_request_error`s too, told apart by status and code.
 */
export type StripeErrorType =
  | "api_error"
  | "card_error"
  | "idempotency_error"
  | "invalid_request_error";

/** The body of every emulator error response, as Stripe sends it. */
export interface StripeErrorBody {
  error: {
    type: StripeErrorType;
    code?: string;
    decline_code?: string;
    message: string;
    param?: string;
    doc_url?: string;
    request_log_url?: string;
  };
}

/**
 * An error the emulator answers with, in Stripe's shape.
 *
 * @example
 * ```ts
 * throw new StripeApiError(404, "invalid_request_error", "No such product: 'prod_x'", {
 *   code: "resource_missing",
 *   param: "id",
 * });
 * ```
 */
export class StripeApiError extends Error {
  readonly status: number;
  readonly type: StripeErrorType;
  readonly code?: string;
  readonly param?: string;
  readonly declineCode?: string;
  /** Extra response headers, e.g. `Retry-After` on a 429. */
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    type: StripeErrorType,
    message: string,
    opts: {
      code?: string;
      param?: string;
      declineCode?: string;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.name = "StripeApiError";
    this.status = status;
    this.type = type;
    this.code = opts.code;
    this.param = opts.param;
    this.declineCode = opts.declineCode;
    this.headers = opts.headers ?? {};
  }

  /** The JSON body Stripe would send. */
  toBody(): StripeErrorBody {
    const error: StripeErrorBody["error"] = { type: this.type, message: this.message };
    if (this.code) {
      error.code = this.code;
      error.doc_url = `https://stripe.com/docs/error-codes/${this.code.replaceAll("_", "-")}`;
    }
    if (this.declineCode) error.decline_code = this.declineCode;
    if (this.param) error.param = this.param;
    return { error };
  }
}

/** 404 `resource_missing` for an object id, as Stripe words it. */
export function noSuch(kind: string, id: string, param = "id"): StripeApiError {
  return new StripeApiError(404, "invalid_request_error", `No such ${kind}: '${id}'`, {
    code: "resource_missing",
    param,
  });
}

/** 400 `parameter_unknown`. */
export function unknownParameter(param: string): StripeApiError {
  return new StripeApiError(400, "invalid_request_error", `Received unknown parameter: ${param}`, {
    code: "parameter_unknown",
    param,
  });
}

/** 400 `parameter_missing`. */
export function missingParameter(param: string): StripeApiError {
  return new StripeApiError(400, "invalid_request_error", `Missing required param: ${param}.`, {
    code: "parameter_missing",
    param,
  });
}

/** 400 `parameter_invalid_*` / generic invalid value. */
export function invalidParameter(
  param: string,
  message: string,
  code = "parameter_invalid",
): StripeApiError {
  return new StripeApiError(400, "invalid_request_error", message, { code, param });
}
