/**
 * The long-lived parts of the function, built once per process (cold start) and reused by every
 * invocation: clients with their keep-alive connections, the token cache and the upload pacer.
 */
import { type Config, loadConfig } from "./config";
import { LarkHttp } from "./lark-http";
import { TenantTokens } from "./lark-token";
import { LarkUploader } from "./lark-upload";
import { Pacer } from "./pacer";
import type { PipelineDeps } from "./pipeline";
import { createS3Client, S3Objects } from "./s3-objects";
import { secretReader } from "./secret";

export interface Runtime extends PipelineDeps {
  config: Config;
}

export function createRuntime(config: Config = loadConfig()): Runtime {
  const http = new LarkHttp(config.larkBaseUrl, config.larkTimeoutMs);
  const tokens = new TenantTokens(http, config.appId, secretReader(config.appSecret));
  const pacer = new Pacer(paceFor(config.uploadsPerSecond));
  return {
    config,
    s3: new S3Objects(createS3Client(config.s3Endpoint), { verifyTagsAfterCopy: config.verifyTagsAfterCopy }),
    lark: new LarkUploader(http, tokens, pacer),
  };
}

/**
 * Lark counts 5 calls in a 1 s window. A higher rate (an emulator run at a faster time scale) keeps
 * the burst of 5 and shrinks the window; a lower one keeps the window and shrinks the burst.
 */
export function paceFor(uploadsPerSecond: number): { perWindow: number; windowMs: number } {
  const perWindow = Math.min(5, uploadsPerSecond);
  return { perWindow, windowMs: (1000 * perWindow) / uploadsPerSecond };
}
