/**
 * One logical Lark call, whatever the API: paced by the rule it falls under, authenticated with the tenant
 * token (fetched again once when Lark rejects it), and retried while the fault is transient.
 */
import { TokenRejectedError, TransientError } from "../errors";
import { type RetryOptions, withRetries } from "../retry";
import type { LarkHttp, LarkRequest } from "./http";
import type { Pacer } from "./pacer";
import { interpretReply, type LarkBody } from "./reply";
import type { TenantTokens } from "./token";

export interface CallCounter {
  /** HTTP calls made, retries included. */
  calls: number;
  /** Time spent in those calls (the pacer's waits excluded). */
  larkMs: number;
}

export const newCounter = (): CallCounter => ({ calls: 0, larkMs: 0 });

export interface CallOptions {
  pacer: Pacer;
  retry: RetryOptions;
  counter?: CallCounter;
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
    const { pacer, retry, counter = newCounter() } = opts;
    return withRetries(async () => {
      for (let refreshed = false; ; refreshed = true) {
        const token = await this.tokens.get();
        try {
          const reply = await pacer.run(async () => {
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
          }, retry.deadline);
          return interpretReply(what, reply);
        } catch (err) {
          if (err instanceof TokenRejectedError) {
            this.tokens.invalidate(token);
            if (!refreshed) continue;
            throw new TransientError(`${what}: Lark rejected a freshly fetched token (${err.larkCode})`, {
              larkCode: err.larkCode,
            });
          }
          if (err instanceof TransientError && err.retryAfterMs) pacer.pauseFor(err.retryAfterMs);
          throw err;
        }
      }
    }, retry);
  }
}
