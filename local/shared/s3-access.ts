/**
 * How the local tools reach S3. The `npm start` stack's s3rver takes only its own keys, whatever the shell
 * holds for real AWS; anywhere else (AWS itself, another store on this machine such as radosgw) the usual AWS
 * settings apply, and a tool checks that they are there before its first call.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { LOCAL_REGION, useLocalCredentials } from "../local-s3";
import { isLocalEndpoint, readStackInfo, sameEndpoint } from "./state";

type Env = Record<string, string | undefined>;

/**
 * Points the AWS settings in `env` at s3rver's keys when `endpoint` is the running `npm start` stack, or a
 * store on this machine while the shell has no credentials of its own; says whether it did. A store on this
 * machine ignores the region, so one is set when missing.
 */
export function useLocalKeysFor(endpoint: string | undefined, env: Env = process.env): boolean {
  if (!endpoint || !isLocalEndpoint(endpoint)) return false;
  const stack = sameEndpoint(endpoint, readStackInfo(env)?.s3Endpoint);
  if (stack || !(env.AWS_ACCESS_KEY_ID?.trim() || env.AWS_PROFILE?.trim())) {
    useLocalCredentials(env);
    return true;
  }
  env.AWS_REGION ||= LOCAL_REGION;
  return false;
}

/** What the client lacks to call S3, as the words for a message: a region, credentials (empty when nothing). */
export async function missingAwsSettings(client: S3Client): Promise<string[]> {
  const missing: string[] = [];
  try {
    await client.config.region();
  } catch {
    missing.push("no region (set AWS_REGION, or a region in your AWS profile)");
  }
  try {
    await client.config.credentials();
  } catch {
    missing.push("no credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  }
  return missing;
}
