/**
 * The failure contract. Every error the function can meet says which of three kinds it is, so a caller
 * only has to ask one question: can a retry help, and whose fault is it?
 *
 * - `permanent` ({@link RejectionError}): the object itself is wrong for Lark (too large, bad tags, a
 *   permanent Lark code). Retrying cannot help; the user is told on the object with a `lark-upload-error` tag.
 * - `transient` ({@link TransientError}): the world was briefly unwell (throttling, 5xx, network, timeouts,
 *   the invocation running out of time). Retry, and when retries run out let Lambda's retries and the
 *   dead-letter destination take over.
 * - `configuration` ({@link ConfigurationError}): the function itself is misconfigured (bad app credentials,
 *   a missing scope or permission, bad settings). No object is at fault, so none is tagged; the invocation
 *   fails and the event is kept for a redrive once the configuration is fixed.
 */
import type { RejectionCode } from "./contract";

export type FailureKind = "transient" | "permanent" | "configuration";

export interface FailureOptions {
  cause?: unknown;
  /** Lark's own code when Lark gave the answer (e.g. 1061045), absent otherwise. */
  larkCode?: number;
}

export abstract class Failure extends Error {
  abstract readonly kind: FailureKind;
  readonly larkCode?: number;
  constructor(message: string, opts: FailureOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    if (opts.larkCode !== undefined) this.larkCode = opts.larkCode;
  }
}

/** A refusal of Lark's carries its numeric code, and the stable code on the object follows from it. */
type RejectionOptions = FailureOptions & ({ code: RejectionCode; larkCode?: undefined } | { larkCode: number });

export class RejectionError extends Failure {
  override readonly name = "RejectionError";
  readonly kind = "permanent";
  readonly code: RejectionCode;
  constructor(
    readonly reason: string,
    opts: RejectionOptions,
  ) {
    const code = opts.larkCode !== undefined ? (`lark-${opts.larkCode}` as const) : opts.code;
    super(`${code}: ${reason}`, opts);
    this.code = code;
  }
}

export class TransientError extends Failure {
  override readonly name: string = "TransientError";
  readonly kind = "transient";
  /** Server-requested wait before the next attempt (x-ogw-ratelimit-reset), in ms. */
  readonly retryAfterMs?: number;
  constructor(message: string, opts: FailureOptions & { retryAfterMs?: number } = {}) {
    super(message, opts);
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

export class ConfigurationError extends Failure {
  override readonly name = "ConfigurationError";
  readonly kind = "configuration";
}

/** Lark said the tenant token is invalid or expired: fetch a new one and try once more. */
export class TokenRejectedError extends TransientError {
  override readonly name = "TokenRejectedError";
  constructor(larkCode: number) {
    super(`Lark rejected the tenant_access_token (code ${larkCode})`, { larkCode });
  }
}

/** The invocation's event is not one the function understands: no retry can change that. */
export class MalformedEventError extends Failure {
  override readonly name = "MalformedEventError";
  readonly kind = "permanent";
}

/**
 * An object cannot be told why it was refused: it already has the 10 tags S3 allows. Permanent, and
 * only the user can fix it (by removing a tag).
 */
export class TagLimitError extends Failure {
  override readonly name = "TagLimitError";
  readonly kind = "permanent";
}

/**
 * Not a failure: the object is no longer the one the event announced (overwritten or deleted). Nothing is
 * done, because the newer content has an event of its own.
 */
export class ObjectChangedError extends Error {
  override readonly name = "ObjectChangedError";
}
