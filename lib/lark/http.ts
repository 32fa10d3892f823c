/** The HTTP transport to Lark: keep-alive connections, a timeout on every call, network faults typed. */
import type { Readable } from "node:stream";
import { Agent, request } from "undici";
import { TransientError } from "../errors";
import type { LarkReply } from "./reply";

export type LarkRequestBody = string | Buffer | Readable;

export interface LarkRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** The path under the origin, e.g. /open-apis/drive/v1/medias/upload_all. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: LarkRequestBody;
}

export class LarkHttp {
  // Calls go one at a time by Lark's rules; a few connections let a token fetch overlap a slow upload.
  private readonly agent = new Agent({ connections: 4, keepAliveTimeout: 30_000, connect: { timeout: 10_000 } });

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  /** Sends and reads the whole reply. Never throws for an HTTP status; throws TransientError when no reply came. */
  async send(req: LarkRequest, deadline?: number): Promise<LarkReply> {
    // An integer, whatever the deadline: undici (and AbortSignal.timeout) refuse fractions.
    const timeout = Math.max(
      1,
      Math.floor(Math.min(this.timeoutMs, deadline ? deadline - Date.now() : this.timeoutMs)),
    );
    try {
      const res = await request(this.baseUrl + req.path + queryString(req.query), {
        method: req.method,
        headers: req.headers,
        body: req.body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(timeout),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    } catch (err) {
      throw new TransientError(`${req.path}: no reply (${describeNetworkError(err)})`, { cause: err });
    }
  }
}

function queryString(query: LarkRequest["query"]): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) params.append(name, String(value));
  return params.size ? `?${params}` : "";
}

function describeNetworkError(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === "TimeoutError" || e.name === "AbortError") return "timed out";
  return [e.code, e.message].filter(Boolean).join(" ") || String(err);
}
