/** The one place S3 clients are configured: the function's, the local tools', the tests' and the benchmark's. */
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";

export interface S3ClientOptions {
  /** A custom endpoint (an S3-compatible store, a local server): path-style addressing is used with it. */
  endpoint?: string;
  region?: string;
  credentials?: S3ClientConfig["credentials"];
  /**
   * Ceph's radosgw ignores x-amz-copy-source-if-match and reads its own x-amz-copy-if-match instead:
   * without the second header the overwrite guard of the metadata copy would silently do nothing there.
   */
  cephCopyGuard?: boolean;
}

export function createS3Client(opts: S3ClientOptions = {}): S3Client {
  const client = new S3Client({
    ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    // Checksums on every request cost CPU on a 20 MiB body and confuse S3-compatible stores (s3rver stores
    // the aws-chunked framing verbatim); S3 itself verifies what it receives.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  if (opts.cephCopyGuard) {
    client.middlewareStack.add(
      (next) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers;
        const guard = headers?.["x-amz-copy-source-if-match"];
        if (headers && guard) headers["x-amz-copy-if-match"] = guard;
        return next(args);
      },
      { step: "build", name: "cephCopyIfMatch" },
    );
  }
  return client;
}
