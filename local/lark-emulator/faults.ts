// Injected faults: the next request(s) to an endpoint get a chosen failure instead of being processed, or (delay)
// reach Lark late. Endpoints are named as the tests and the fault rules address them; a rule without a path means
// the media upload endpoints, as it did before other families existed.

import http from "node:http";
import type { BitableEndpoint } from "./bitable";
import { drain } from "./bodies";
import type { DocxEndpoint } from "./docx";
import type { DriveFilesEndpoint } from "./drive-files";
import type { FoldersEndpoint } from "./drive-folders";
import type { ImportEndpoint } from "./drive-import";
import { THROTTLED } from "./limits";
import type { MediaEndpoint } from "./media";
import type { PermissionsEndpoint } from "./permissions";
import { type Ctx, reply, send } from "./server";
import type { SheetsEndpoint } from "./sheets";

export type Fault =
  | { kind: "code"; code: number; httpStatus?: number; msg?: string; headers?: Record<string, string> }
  | { kind: "http"; status: number; body?: string; contentType?: string }
  | { kind: "reset" }
  | { kind: "hang" }
  /** The request is processed as if it arrived `ms` later; a client that gives up meanwhile leaves no trace. */
  | { kind: "delay"; ms: number };

/** Every endpoint by the name fault rules use: media's by their last path segment, the others as the official
 * SDK calls them (`client.docx.v1.documentBlock.patch` is "docx.documentBlock.patch"). */
export type Endpoint =
  | "token"
  | MediaEndpoint
  | DocxEndpoint
  | BitableEndpoint
  | SheetsEndpoint
  | FoldersEndpoint
  | DriveFilesEndpoint
  | ImportEndpoint
  | PermissionsEndpoint;

export interface FaultRule {
  fault: Fault;
  path?: Endpoint;
  times?: number;
}

const PATHLESS: ReadonlySet<Endpoint> = new Set<Endpoint>([
  "upload_all",
  "upload_prepare",
  "upload_part",
  "upload_finish",
]);

export class FaultQueue {
  private rules: { fault: Fault; path?: Endpoint; left: number }[] = [];

  inject(rule: FaultRule): void {
    this.rules.push({ fault: rule.fault, path: rule.path, left: rule.times ?? 1 });
  }

  clear(): void {
    this.rules = [];
  }

  /** The fault the next request to `endpoint` gets, if any; rules match in the order they were injected. */
  take(endpoint: Endpoint): Fault | undefined {
    const i = this.rules.findIndex((r) => (r.path ? r.path === endpoint : PATHLESS.has(endpoint)));
    if (i < 0) return undefined;
    const rule = this.rules[i];
    if (--rule.left <= 0) this.rules.splice(i, 1);
    return rule.fault;
  }
}

/** Wait `ms`, or less when the client goes away first: true when the client is still there to be answered. */
export function arriveLate(ctx: Ctx, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const gone = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      ctx.res.off("close", gone);
      resolve(!ctx.req.socket.destroyed);
    }, ms);
    ctx.res.once("close", gone);
  });
}

/** Answer `ctx` with `fault`; a simulated throttle carries `throttleHeaders`, as a real one does. */
export async function applyFault(
  ctx: Ctx,
  fault: Exclude<Fault, { kind: "delay" }>,
  throttleHeaders: () => Record<string, string>,
): Promise<void> {
  switch (fault.kind) {
    case "reset":
      ctx.req.socket.destroy();
      return;
    case "hang":
      ctx.req.resume(); // accept the body, never answer; close() ends the socket
      return;
    case "http":
      await drain(ctx.req);
      send(ctx, fault.status, fault.body ?? defaultHtml(fault.status), fault.contentType ?? "text/html");
      return;
    case "code": {
      await drain(ctx.req);
      const headers = fault.code === THROTTLED && !fault.headers ? throttleHeaders() : fault.headers;
      reply(ctx, fault.code, fault.msg ? { msg: fault.msg } : {}, headers, fault.httpStatus);
      return;
    }
  }
}

// What a load balancer in front of Lark answers: HTML, not JSON.
function defaultHtml(status: number): string {
  const title = `${status} ${http.STATUS_CODES[status] ?? "Error"}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
}
