// Admission limits: rate windows and one-at-a-time groups, each scoped by a key (the app, an endpoint of the app,
// a document, a table…), so one mechanism serves Lark's per-app-per-endpoint limits, per-resource limits such as
// "3 edits/s per document", "no two writes at once in one table", and the media rule.
//
// A request is admitted only if every limit of its route lets it in; a refused request takes no slot anywhere,
// so waiting x-ogw-ratelimit-reset is always enough. A one-at-a-time slot is held until the answer is finished.

import type { ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";

/** A rule as Lark documents it: `limit` requests per `perMs` (real time, before timeScale). */
export interface RateRule {
  name: string;
  limit: number;
  perMs: number;
  /** The HTTP status Lark throttles with on this rule. */
  status: 429 | 400;
  /** The code Lark throttles with: 99991400 unless the API documents its own (import tasks: 1069923). */
  code?: number;
}

/** At most `limit` admitted requests in any window of `windowMs`. */
export interface RateLimit {
  kind: "rate";
  rule: string;
  key: string;
  limit: number;
  windowMs: number;
  status: number;
  code: number;
}

/** No two admitted requests with the same key open at once; the second gets `code`. */
export interface OneAtATime {
  kind: "one-at-a-time";
  rule: string;
  key: string;
  code: number;
}

export type Limit = RateLimit | OneAtATime;

export interface Refusal {
  code: number;
  status?: number;
  headers?: Record<string, string>;
}

export const THROTTLED = 99991400;

export class Limits {
  private readonly arrivals = new Map<string, number[]>(); // admitted arrival times (performance.now())
  private readonly open = new Set<string>();
  private readonly refused = new Map<string, number>();

  constructor(
    private readonly timeScale: number,
    private readonly overrides: Partial<Record<string, number>> = {},
  ) {}

  /** The rule applied to `key`, with the emulator's timeScale and any override of its count. */
  rate(rule: RateRule, key: string): RateLimit {
    const limit = this.overrides[rule.name] ?? rule.limit;
    const windowMs = rule.perMs * this.timeScale;
    return { kind: "rate", rule: rule.name, key, limit, windowMs, status: rule.status, code: rule.code ?? THROTTLED };
  }

  oneAtATime(rule: string, key: string, code: number): OneAtATime {
    return { kind: "one-at-a-time", rule, key, code };
  }

  /** Admit the request (taking its slots until `res` closes) or say why not. */
  admit(limits: readonly Limit[], res: ServerResponse): Refusal | undefined {
    const now = performance.now();
    for (const limit of limits) {
      const refusal = limit.kind === "rate" ? this.rateRefusal(limit, now) : this.busyRefusal(limit);
      if (refusal) {
        this.refused.set(limit.rule, (this.refused.get(limit.rule) ?? 0) + 1);
        return refusal;
      }
    }
    for (const limit of limits) {
      if (limit.kind === "rate") this.window(limit, now).push(now);
      else {
        const slot = slotOf(limit);
        this.open.add(slot);
        res.once("close", () => this.open.delete(slot));
      }
    }
    return undefined;
  }

  /** The headers a client needs to wait out `limit`, `waitMs` from now. */
  headers(limit: RateLimit, waitMs = limit.windowMs): Record<string, string> {
    // Whole (unscaled) seconds rounded up, then scaled: an integer at timeScale 1, never too early.
    const reset = Math.ceil(waitMs / this.timeScale / 1000) * this.timeScale;
    return {
      "x-ogw-ratelimit-limit": String(limit.limit),
      "x-ogw-ratelimit-reset": String(Number(reset.toFixed(3))),
    };
  }

  /** How many requests `rule` has refused since the last reset. */
  refusals(rule: string): number {
    return this.refused.get(rule) ?? 0;
  }

  /** Every rule that refused a request since the last reset, with how many it refused. */
  refusalsByRule(): Record<string, number> {
    return Object.fromEntries(this.refused);
  }

  /** Forget the windows and counts; slots of requests still open stay taken. */
  reset(): void {
    this.arrivals.clear();
    this.refused.clear();
  }

  private window(limit: RateLimit, now: number): number[] {
    const slot = slotOf(limit);
    const inWindow = (this.arrivals.get(slot) ?? []).filter((t) => t > now - limit.windowMs);
    this.arrivals.set(slot, inWindow);
    return inWindow;
  }

  private rateRefusal(limit: RateLimit, now: number): Refusal | undefined {
    const window = this.window(limit, now);
    if (window.length < limit.limit) return undefined;
    const waitMs = window.length > 0 ? window[0] + limit.windowMs - now : limit.windowMs;
    return { code: limit.code, status: limit.status, headers: this.headers(limit, waitMs) };
  }

  private busyRefusal(limit: OneAtATime): Refusal | undefined {
    return this.open.has(slotOf(limit)) ? { code: limit.code } : undefined;
  }
}

const slotOf = (limit: Limit) => `${limit.rule}\u0000${limit.key}`;
