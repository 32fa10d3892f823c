// s3rver ships no types; this is the part of its API the local stack uses.
declare module "s3rver" {
  import type { EventEmitter } from "node:events";

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  import type { S3rverStore } from "s3rver/lib/models/config.js";

  interface S3rverContext {
    method: string;
    url: string;
    status: number;
    body?: unknown;
    headers: Record<string, string | undefined>;
    params?: { bucket: string; key: string; queryMethod?: string };
    store: S3rverStore;
  }
  export default class S3rver extends EventEmitter {
    constructor(options: S3rverOptions);
    middleware: ((ctx: S3rverContext, next: () => Promise<void>) => Promise<void>)[];
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }
}

declare module "s3rver/lib/models/config.js" {
  export interface S3rverStore {
    getSubresource(bucket: string, key: string, type: string): Promise<unknown>;
    putSubresource(bucket: string, key: string, resource: unknown): Promise<void>;
    deleteSubresource(bucket: string, key: string, type: string): Promise<void>;
  }
  export const TaggingConfiguration: { validate(xml: string): unknown };
}
