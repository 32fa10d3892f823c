/** The HTTP transport to Lark: keep-alive connections, a timeout on every call, network faults typed. */

import type { Readable } from "node:stream";
import { Agent, request } from "undici";
import { TransientError } from "./errors";
import type { LarkReply } from "./lark-reply";

export type LarkRequestBody = string | Buffer | Readable;

export class LarkHttp {
  // Uploads go one at a time by Lark's rule; a few connections let a token fetch overlap a slow upload.
  private readonly agent = new Agent({ connections: 4, keepAliveTimeout: 30_000, connect: { timeout: 10_000 } });

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  /** POSTs and reads the whole reply. Never throws for an HTTP status; throws TransientError when no reply came. */
  async post(
    path: string,
    headers: Record<string, string>,
    body: LarkRequestBody,
    deadline?: number,
  ): Promise<LarkReply> {
    const timeout = Math.max(1, Math.min(this.timeoutMs, deadline ? deadline - Date.now() : this.timeoutMs));
    try {
      const res = await request(this.baseUrl + path, {
        method: "POST",
        headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(timeout),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    } catch (err) {
      throw new TransientError(`${path}: no reply (${describeNetworkError(err)})`, { cause: err });
    }
  }
}

function describeNetworkError(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === "TimeoutError" || e.name === "AbortError") return "timed out";
  return [e.code, e.message].filter(Boolean).join(" ") || String(err);
}
