/**
 * The long-lived parts of the function, built once per process (cold start) and reused by every
 * invocation: clients with their keep-alive connections, the token cache and Lark's pacers.
 */
import { type Config, loadConfig } from "./config";
import { LarkBitable } from "./lark/bitable";
import { LarkClient } from "./lark/client";
import { LarkDocx } from "./lark/docx";
import { LarkHttp } from "./lark/http";
import { LarkImports } from "./lark/imports";
import { LarkLimits } from "./lark/limits";
import { DRIVE_FILES, LarkMedia } from "./lark/media";
import { LarkPermissions } from "./lark/permissions";
import { LarkSheets } from "./lark/sheets";
import { TenantTokens } from "./lark/token";
import type { PipelineDeps } from "./pipeline";
import { createS3Client } from "./s3-client";
import { S3Objects } from "./s3-objects";
import { secretReader } from "./secret";

export interface Runtime extends PipelineDeps {
  config: Config;
}

export interface RuntimeOptions {
  /** Lark's windows shrunk by this factor, for an emulator run at the same scale (tests, benchmark). */
  timeScale?: number;
}

export function createRuntime(config: Config = loadConfig(), opts: RuntimeOptions = {}): Runtime {
  const http = new LarkHttp(config.larkBaseUrl, config.larkTimeoutMs);
  const client = new LarkClient(http, new TenantTokens(http, config.appId, secretReader(config.appSecret)));
  const limits = new LarkLimits({ uploadsPerSecond: config.uploadsPerSecond, timeScale: opts.timeScale });
  const s3 = createS3Client({ endpoint: config.s3Endpoint, cephCopyGuard: config.radosgwWorkarounds });
  return {
    config,
    s3: new S3Objects(s3, { verifyTagsAfterCopy: config.radosgwWorkarounds }),
    lark: {
      media: new LarkMedia(client, limits),
      docx: new LarkDocx(client, limits),
      bitable: new LarkBitable(client, limits),
      sheets: new LarkSheets(client, limits),
      driveFiles: new LarkMedia(client, limits, DRIVE_FILES),
      imports: new LarkImports(client, limits),
      permissions: new LarkPermissions(client, limits),
    },
  };
}
