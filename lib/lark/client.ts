/**
 * One logical Lark call, whatever the API: paced by the rules it falls under, authenticated with the tenant
 * token (fetched again once when Lark rejects it), and retried while the fault is transient.
 */
import { TokenRejectedError, TransientError } from "../errors";
import { type RetryOptions, withRetries } from "../retry";
import type { LarkHttp, LarkRequest } from "./http";
import type { Pacing } from "./pacer";
import { interpretReply, type LarkBody, type LarkReply } from "./reply";
import type { TenantTokens } from "./token";

export interface CallCounter {
  /** HTTP calls made, retries included. */
  calls: number;
  /** Time spent in those calls (the pacer's waits excluded). */
  larkMs: number;
}

export const newCounter = (): CallCounter => ({ calls: 0, larkMs: 0 });

/**
 * The rules a call falls under: one pacer, or several, whose slots it holds all at once. Several are taken in
 * the order given (lib/lark/limits.ts lists them narrowest first) and the request runs inside the last.
 */
type Pacers = { pacer: Pacing; pacers?: undefined } | { pacers: readonly Pacing[]; pacer?: undefined };

export type CallOptions = Pacers & {
  retry: RetryOptions;
  counter?: CallCounter;
};

/** A JSON request: Lark's content type, the body serialised once (so every attempt can send it again). */
export function jsonRequest(
  method: LarkRequest["method"],
  path: string,
  opts: { query?: LarkRequest["query"]; body?: unknown } = {},
): LarkRequest {
  if (opts.body === undefined) return { method, path, query: opts.query };
  return {
    method,
    path,
    query: opts.query,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify(opts.body),
  };
}

export class LarkClient {
  constructor(
    private readonly http: LarkHttp,
    private readonly tokens: TenantTokens,
  ) {}

  /**
   * `what` names the call in errors (its path). `makeRequest` is called for every attempt: a streamed body
   * cannot be sent twice.
   */
  call(what: string, makeRequest: () => LarkRequest, opts: CallOptions): Promise<LarkBody> {
    const { retry, counter = newCounter() } = opts;
    const pacers = opts.pacer === undefined ? opts.pacers : [opts.pacer];
    return withRetries(async () => {
      for (let refreshed = false; ; refreshed = true) {
        const token = await this.tokens.get();
        const send = async (): Promise<LarkReply> => {
          counter.calls++;
          const req = makeRequest();
          const started = Date.now();
          try {
            return await this.http.send(
              { ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } },
              retry.deadline,
            );
          } finally {
            counter.larkMs += Date.now() - started;
          }
        };
        // The first pacer outermost: its slot is taken first and given back last.
        const held = pacers.reduceRight<() => Promise<LarkReply>>(
          (inner, pacer) => () => pacer.run(inner, retry.deadline),
          send,
        );
        try {
          return interpretReply(what, await held());
        } catch (err) {
          if (err instanceof TokenRejectedError) {
            this.tokens.invalidate(token);
            if (!refreshed) continue;
            throw new TransientError(`${what}: Lark rejected a freshly fetched token (${err.larkCode})`, {
              larkCode: err.larkCode,
            });
          }
          // Lark does not say which rule it applied: every rule of the call waits.
          if (err instanceof TransientError && err.retryAfterMs)
            for (const pacer of pacers) pacer.pauseFor(err.retryAfterMs);
          throw err;
        }
      }
    }, retry);
  }
}
