// What the Lark client tests share: an emulator per test and the function's own Lark stack pointed at it (transport,
// token cache, paced and retried calls, limits at the emulator's time scale), the media client for real uploads,
// and the emulator's own log of every answer, to count its refusals.

import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import ADLER32 from "adler-32";
import { RejectionError } from "../../lib/errors";
import { LarkClient } from "../../lib/lark/client";
import { LarkHttp } from "../../lib/lark/http";
import { LarkLimits } from "../../lib/lark/limits";
import { LarkMedia } from "../../lib/lark/media";
import type { ParentType } from "../../lib/lark/parent-types";
import { TenantTokens } from "../../lib/lark/token";
import type { RetryOptions } from "../../lib/retry";
import { secretReader } from "../../lib/secret";
import type { LarkEmulator, LarkEmulatorOptions } from "../../local/lark-emulator";
import { startEmulator } from "./emulator";

export interface LarkRig {
  emu: LarkEmulator;
  client: LarkClient;
  limits: LarkLimits;
  /** Retry options for one logical call: quick backoff, a deadline well inside the test. */
  retry(overrides?: Partial<RetryOptions>): RetryOptions;
  /** Uploads `bytes` through the function's media client; answers the file_token. */
  upload(into: {
    parentType: ParentType;
    parentNode: string;
    driveRouteToken?: string;
    name?: string;
    bytes?: Buffer;
  }): Promise<string>;
  /** How many answers of the emulator carried this Lark code (its refusals, or the faults it was told to inject). */
  answered(code: number): number;
}

/** Lark's "request trigger frequency limit", the code of every rate refusal. */
export const THROTTLED = 99991400;

export async function startLark(t: TestContext, opts: LarkEmulatorOptions = {}): Promise<LarkRig> {
  const log: string[] = [];
  const emu = await startEmulator(t, { ...opts, log: (line) => log.push(line) });
  const client = clientOver(emu, new LarkHttp(emu.url, 5_000));
  const limits = new LarkLimits({ timeScale: opts.timeScale });
  const media = new LarkMedia(client, limits);
  const retry = (overrides: Partial<RetryOptions> = {}): RetryOptions => ({
    maxAttempts: 4,
    deadline: Date.now() + 15_000,
    baseDelayMs: 5,
    maxDelayMs: 50,
    ...overrides,
  });
  return {
    emu,
    client,
    limits,
    retry,
    async upload({
      parentType,
      parentNode,
      driveRouteToken,
      name = "picture.png",
      bytes = Buffer.from("image bytes"),
    }) {
      const block = { parts: [bytes], size: bytes.length, adler32: ADLER32.buf(bytes) >>> 0 };
      const extra = driveRouteToken ? JSON.stringify({ drive_route_token: driveRouteToken }) : undefined;
      const file = { name, parentType, parentNode, size: bytes.length, ...(extra ? { extra } : {}) };
      return (await media.uploadAll(file, block, retry())).fileToken;
    },
    answered: (code) => log.filter((line) => line.includes(` code=${code} `)).length,
  };
}

/** The function's call path (token cache, pacing, retries) to the emulator over `http`. */
export function clientOver(emu: LarkEmulator, http: LarkHttp): LarkClient {
  return new LarkClient(http, new TenantTokens(http, emu.appId, secretReader({ kind: "value", value: emu.appSecret })));
}

/** The RejectionError `promise` must end with (the test fails if it resolves or fails otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<RejectionError> {
  const error = await promise.then(
    () => assert.fail("must be refused"),
    (e) => e,
  );
  assert.ok(error instanceof RejectionError, String(error));
  return error;
}
