/**
 * The AWS stage's common ground: moto, the Lark emulator and a scratch directory, and ways to look at what
 * a user would see (an object's token, metadata, tags; a queue's messages).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  type PutObjectCommandInput,
} from "@aws-sdk/client-s3";
import { type Aws, awsClients, awsEnv } from "../../local/aws/clients";
import { type LarkEmulator, type LarkEmulatorOptions, startLarkEmulator } from "../../local/aws/lark";
import { type Moto, startMoto } from "../../local/aws/moto";
import { ROOT } from "../../local/aws/serverless";

export interface AwsStage {
  moto: Moto;
  aws: Aws;
  lark: LarkEmulator;
  workspace: string;
  close(): Promise<void>;
}

export async function startAwsStage(opts: { lark?: LarkEmulatorOptions } = {}): Promise<AwsStage> {
  const moto = await startMoto();
  const aws = awsClients(moto);
  const lark = await startLarkEmulator(opts.lark);
  const workspace = await mkdtemp(join(tmpdir(), "s3-to-lark-aws-"));
  return {
    moto,
    aws,
    lark,
    workspace,
    close: async () => {
      aws.close();
      await Promise.all([lark.close(), moto.stop()]);
      await rm(workspace, { recursive: true, force: true });
    },
  };
}

/** Polls `probe` until it gives a value; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface ObjectState {
  head: HeadObjectCommandOutput;
  token?: string;
  tags: Record<string, string>;
}

export async function objectState(aws: Aws, bucket: string, key: string): Promise<ObjectState> {
  const head = await aws.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const { TagSet = [] } = await aws.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return {
    head,
    token: head.Metadata?.["lark-file-token"],
    tags: Object.fromEntries(TagSet.map((t) => [t.Key!, t.Value!])),
  };
}

export async function putObject(
  aws: Aws,
  bucket: string,
  key: string,
  body: string | Buffer,
  opts: Partial<Omit<PutObjectCommandInput, "Bucket" | "Key" | "Body" | "Tagging">> & {
    tags?: Record<string, string>;
  } = {},
) {
  const { tags, ...rest } = opts;
  const Tagging = tags ? new URLSearchParams(tags).toString().replace(/\+/g, "%20") : undefined;
  return aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, Tagging, ...rest }));
}

/** Runs a command as a user would from the project directory, with `env` added to a clean environment. */
export function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env }, timeout: 300_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** The environment in which a command reaches moto as the deployer (the AWS CLI, `npm run backfill`). */
export function deployerEnv(moto: Moto): Record<string, string> {
  return { ...awsEnv(moto), AWS_REGION: moto.region, AWS_DEFAULT_REGION: moto.region };
}
