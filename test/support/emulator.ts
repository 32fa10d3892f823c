// What the emulator's family tests share: an emulator per test, the official SDK pointed at it, and a raw
// HTTP client for the codes the SDK hides (it returns the envelope on HTTP 200 and throws on any other status).

import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import * as lark from "@larksuiteoapi/node-sdk";
import FormData from "form-data";
import { request } from "undici";
import { type LarkEmulator, type LarkEmulatorOptions, startLarkEmulator } from "../../local/lark-emulator";

export async function startEmulator(t: TestContext, opts: LarkEmulatorOptions = {}): Promise<LarkEmulator> {
  const emu = await startLarkEmulator(opts);
  t.after(() => emu.close());
  return emu;
}

export function sdkClient(emu: LarkEmulator): lark.Client {
  return new lark.Client({
    appId: emu.appId,
    appSecret: emu.appSecret,
    domain: emu.url,
    cache: new lark.DefaultCache(), // its own: the SDK's default token cache is shared process-wide by app id
    loggerLevel: lark.LoggerLevel.fatal,
  });
}

/** What the SDK threw for a non-2xx answer: the HTTP status and Lark's code. */
export async function sdkFailure(call: Promise<unknown>): Promise<{ status: number; code: number }> {
  const error: any = await call.then(
    () => assert.fail("the SDK call must throw"),
    (e) => e,
  );
  return { status: error.response?.status, code: error.response?.data?.code };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any;
}

export async function tenantToken(emu: LarkEmulator): Promise<string> {
  const a = await call(emu, "POST", "/open-apis/auth/v3/tenant_access_token/internal", {
    body: { app_id: emu.appId, app_secret: emu.appSecret },
  });
  return a.json.tenant_access_token;
}

/** One raw HTTP request; a JSON body is sent as application/json, with the bearer token when given. */
export async function call(
  emu: LarkEmulator,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  path: string,
  opts: { token?: string; body?: unknown; query?: Record<string, string | number>; timeoutMs?: number } = {},
): Promise<Answer> {
  const query = new URLSearchParams(Object.entries(opts.query ?? {}).map(([k, v]): [string, string] => [k, String(v)]));
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json; charset=utf-8";
  const r = await request(`${emu.url}${path}${query.size ? `?${query}` : ""}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: giveUpAfter(opts.timeoutMs),
  });
  const text = await r.body.text();
  return { status: r.statusCode, headers: r.headers, json: text ? JSON.parse(text) : undefined };
}

export function assertLark(a: Answer, status: number, code: number): void {
  assert.equal(a.status, status, `HTTP status, body ${JSON.stringify(a.json)}`);
  assert.equal(a.json?.code, code, `code, body ${JSON.stringify(a.json)}`);
}

export interface UploadInto {
  /** medias/upload_all (default) or files/upload_all (Drive). */
  api?: "medias" | "files";
  parentType: string;
  /** Left out of the form when undefined. */
  parentNode?: string;
  /** Becomes extra = {"drive_route_token": …}. */
  driveRouteToken?: string;
  /** The extra field as sent (an import's {"obj_type", "file_extension"}). */
  extra?: string;
  fileName?: string;
  bytes?: Buffer;
}

/** A client that gives up after `ms` (rejecting with a TimeoutError); none when undefined. */
const giveUpAfter = (ms: number | undefined) => (ms === undefined ? undefined : AbortSignal.timeout(ms));

/** A raw upload_all; answers with Lark's envelope (data.file_token on success). */
export async function upload(emu: LarkEmulator, token: string, into: UploadInto, timeoutMs?: number): Promise<Answer> {
  const bytes = into.bytes ?? Buffer.from("image bytes");
  const extra = into.extra ?? (into.driveRouteToken && JSON.stringify({ drive_route_token: into.driveRouteToken }));
  const form = new FormData();
  form.append("file_name", into.fileName ?? "picture.png");
  form.append("parent_type", into.parentType);
  if (into.parentNode !== undefined) form.append("parent_node", into.parentNode);
  form.append("size", String(bytes.length));
  if (extra) form.append("extra", extra);
  form.append("file", bytes, { filename: "blob", contentType: "application/octet-stream" });
  const r = await request(`${emu.url}/open-apis/drive/v1/${into.api ?? "medias"}/upload_all`, {
    method: "POST",
    headers: { ...form.getHeaders(), authorization: `Bearer ${token}` },
    body: form.getBuffer(),
    signal: giveUpAfter(timeoutMs),
  });
  return { status: r.statusCode, headers: r.headers, json: await r.body.json() };
}

/** One raw upload_part of a chunked upload, media or Drive. */
export async function uploadPart(
  emu: LarkEmulator,
  token: string,
  api: "medias" | "files",
  uploadId: string,
  seq: number,
  block: Buffer,
): Promise<Answer> {
  const form = new FormData();
  form.append("upload_id", uploadId);
  form.append("seq", String(seq));
  form.append("size", String(block.length));
  form.append("file", block, { filename: "blob", contentType: "application/octet-stream" });
  const r = await request(`${emu.url}/open-apis/drive/v1/${api}/upload_part`, {
    method: "POST",
    headers: { ...form.getHeaders(), authorization: `Bearer ${token}` },
    body: form.getBuffer(),
  });
  return { status: r.statusCode, headers: r.headers, json: await r.body.json() };
}

/** The file_token of an upload that must succeed. */
export async function uploaded(emu: LarkEmulator, token: string, into: UploadInto): Promise<string> {
  const a = await upload(emu, token, into);
  assertLark(a, 200, 0);
  return a.json.data.file_token;
}
