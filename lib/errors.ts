/**
 * The failure contract. Every error the pipeline can meet ends up as one of these, so the caller
 * only has to ask one question: can a retry help?
 *
 * - {@link RejectionError}: the object itself is wrong for Lark (too large, bad tags, a permanent Lark
 *   code). Retrying cannot help; the user is told on the object with a `lark-upload-error` tag.
 * - {@link TransientError}: the world was briefly unwell (throttling, 5xx, network, timeouts). Retry,
 *   and when retries run out let Lambda's retries and the dead-letter destination take over.
 * - {@link ConfigurationError}: the function itself is misconfigured (bad app credentials, missing
 *   scope, bad settings). No object is at fault, so none is tagged; the invocation fails and the
 *   event is kept for a redrive once the configuration is fixed.
 */

/** Stable codes at the start of a `lark-upload-error` tag value. */
export type RejectionCode =
  | "too-large"
  | "empty-file"
  | "missing-parent"
  | "invalid-parent-type"
  | "invalid-file-name"
  | "archived-object"
  | "metadata-too-large"
  | `lark-${number}`;

export class RejectionError extends Error {
  override readonly name = "RejectionError";
  constructor(
    readonly code: RejectionCode,
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
  }
}

export class TransientError extends Error {
  override readonly name = "TransientError";
  /** Lark's own code when the fault came from Lark (e.g. 1061045), absent for network faults. */
  readonly larkCode?: number;
  /** Server-requested wait before the next attempt (x-ogw-ratelimit-reset), in ms. */
  readonly retryAfterMs?: number;
  constructor(message: string, opts: { larkCode?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.larkCode = opts.larkCode;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
  readonly larkCode?: number;
  constructor(message: string, larkCode?: number) {
    super(message);
    this.larkCode = larkCode;
  }
}

/** Lark said the tenant token is invalid or expired: fetch a new one and try once more. */
export class TokenRejectedError extends Error {
  override readonly name = "TokenRejectedError";
  constructor(readonly larkCode: number) {
    super(`Lark rejected the tenant_access_token (code ${larkCode})`);
  }
}
