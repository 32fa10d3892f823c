// HTTP plumbing shared by every family: the request context, Lark's JSON envelope, and a routing table of
// `method + path pattern` where a `:name` segment is a parameter.

import type { IncomingMessage, ServerResponse } from "node:http";
import { msgOf, statusOf } from "./codes";
import type { Endpoint } from "./faults";
import type { Limit } from "./limits";

export interface Ctx {
  method: string;
  /** URL path without the query. */
  path: string;
  query: URLSearchParams;
  req: IncomingMessage;
  res: ServerResponse;
  /** What was answered, for the log and the request records: HTTP status (0: none yet) and Lark code (-1: none). */
  status: number;
  code: number;
}

export function contextOf(req: IncomingMessage, res: ServerResponse): Ctx {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const [path, query] = q < 0 ? [url, ""] : [url.slice(0, q), url.slice(q + 1)];
  return { method: req.method ?? "GET", path, query: new URLSearchParams(query), req, res, status: 0, code: -1 };
}

export function send(
  ctx: Ctx,
  status: number,
  body: string,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  ctx.status = status;
  ctx.res.writeHead(status, { "content-type": contentType, ...headers });
  ctx.res.end(body);
}

export const sendJson = (ctx: Ctx, value: unknown) =>
  send(ctx, 200, JSON.stringify(value, null, 2), "application/json; charset=utf-8");

/** Lark's envelope `{code, msg, ...extra}`, with the HTTP status Lark documents for `code` unless `status` says. */
export function reply(
  ctx: Ctx,
  code: number,
  extra: Record<string, unknown> = {},
  headers?: Record<string, string>,
  status?: number,
): void {
  ctx.code = code;
  const body = JSON.stringify({ code, msg: msgOf(code), ...extra });
  send(ctx, status ?? statusOf(code), body, "application/json; charset=utf-8", headers);
}

export const replyData = (ctx: Ctx, data: Record<string, unknown>) => reply(ctx, 0, { data });

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export type Params = Record<string, string>;

/** One Lark endpoint as a family registers it. */
export interface Route {
  method: Method;
  /** Lark's path, `:name` for a parameter: `/open-apis/docx/v1/documents/:document_id`. */
  path: string;
  /** The name fault rules address it by. */
  endpoint: Endpoint;
  /** Callable without a tenant_access_token (only the endpoint that issues them). */
  anonymous?: boolean;
  /** Kept in `emulator.requests` and counted in maxInFlight (the media upload endpoints). */
  recorded?: boolean;
  /** Checked in order after auth; the request is processed only if every one admits it. */
  limits?: (params: Params) => Limit[];
  handle: (ctx: Ctx, params: Params) => Promise<void> | void;
}

interface Compiled<R> {
  route: R;
  segments: string[];
  paramCount: number;
}

export class Router<R extends { method: string; path: string }> {
  private readonly table: Compiled<R>[] = [];

  add(...routes: R[]): void {
    for (const route of routes) {
      const segments = route.path.split("/");
      this.table.push({ route, segments, paramCount: segments.filter((s) => s.startsWith(":")).length });
    }
  }

  /** The matching route with the fewest parameters, so `/float_images/query` wins over `/float_images/:id`. */
  match(method: string, path: string): { route: R; params: Params } | undefined {
    const parts = path.split("/");
    let best: { route: R; params: Params; paramCount: number } | undefined;
    for (const { route, segments, paramCount } of this.table) {
      if (route.method !== method || segments.length !== parts.length) continue;
      if (best && best.paramCount <= paramCount) continue;
      const params = bind(segments, parts);
      if (params) best = { route, params, paramCount };
    }
    return best && { route: best.route, params: best.params };
  }
}

function bind(segments: string[], parts: string[]): Params | undefined {
  const params: Params = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (!segment.startsWith(":")) {
      if (segment !== parts[i]) return undefined;
      continue;
    }
    if (parts[i] === "") return undefined;
    try {
      params[segment.slice(1)] = decodeURIComponent(parts[i]);
    } catch {
      return undefined; // malformed percent-encoding names nothing
    }
  }
  return params;
}

/** Thrown by a handler to answer with a Lark code, however deep in its checks it finds the fault. */
export class LarkError extends Error {
  constructor(readonly code: number) {
    super(`Lark code ${code}`);
  }
}

/** An integer query parameter; undefined when absent, LarkError(`invalid`) when it is not a decimal integer. */
export function queryInt(ctx: Ctx, name: string, invalid: number): number | undefined {
  const raw = ctx.query.get(name);
  if (raw === null) return undefined;
  if (!/^-?\d+$/.test(raw)) throw new LarkError(invalid);
  return Number(raw);
}

export interface Paging {
  defaultSize: number;
  maxSize: number;
  /** The code for a page_size out of range. */
  invalidSize: number;
  /** The code for a page_token the emulator did not issue for this list. */
  invalidToken: number;
}

/** One page of `items` as Lark pages lists: page_size, page_token in; items, has_more, page_token out. */
export function pageOf<T>(
  ctx: Ctx,
  items: T[],
  paging: Paging,
): { items: T[]; has_more: boolean; page_token?: string } {
  const size = queryInt(ctx, "page_size", paging.invalidSize) ?? paging.defaultSize;
  if (size < 1 || size > paging.maxSize) throw new LarkError(paging.invalidSize);
  const token = ctx.query.get("page_token");
  const start = token ? offsetOf(token) : 0;
  if (start === undefined || start > items.length) throw new LarkError(paging.invalidToken);
  const end = start + size;
  const hasMore = end < items.length;
  return { items: items.slice(start, end), has_more: hasMore, ...(hasMore ? { page_token: tokenOf(end) } : {}) };
}

const tokenOf = (offset: number) => Buffer.from(`offset:${offset}`).toString("base64url");
function offsetOf(token: string): number | undefined {
  const match = /^offset:(\d+)$/.exec(Buffer.from(token, "base64url").toString());
  return match ? Number(match[1]) : undefined;
}
