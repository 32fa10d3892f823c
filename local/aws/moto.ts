/**
 * moto, the AWS emulator (S3, SQS, SNS, EventBridge, IAM, STS, KMS, SSM, Secrets Manager, CloudFormation,
 * Lambda's control plane, CloudWatch), as a child process on a free loopback port. It is a Python tool, not
 * an npm package: `moto_server` must be on PATH (CI installs it; see docs/deploy.md, "Rehearse a deploy").
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from "@aws-sdk/client-iam";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Moto {
  endpoint: string;
  region: string;
  /** moto's account. */
  accountId: string;
  /** An IAM user allowed everything: the deployer's and the harness's own identity once IAM is enforced. */
  admin: Credentials;
  /** From now on every request must be signed by a known identity and be allowed by its policies. */
  enforceIam(): Promise<void>;
  /** Back to moto's default: any credentials, no policy checks. */
  relaxIam(): Promise<void>;
  stop(): Promise<void>;
}

export const MOTO_ACCOUNT = "123456789012";
const MISSING =
  "moto_server is not on PATH. The AWS stage runs against moto, the AWS emulator, a Python tool that npm " +
  "cannot install: `pip install 'moto[server]'` (CI has moto 5.2), then run `npm run test:aws` again.";

export function findMotoServer(): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "moto_server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new Error(MISSING);
}

export async function startMoto(opts: { region?: string } = {}): Promise<Moto> {
  const command = findMotoServer();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const region = opts.region ?? "eu-west-1";
  // MOTO_PORT: where moto tells a custom resource to answer CloudFormation (the harness answers in its place).
  const child = spawn(command, ["-H", "127.0.0.1", "-p", String(port)], {
    env: { ...process.env, MOTO_PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    // moto logs every request; keep the tail, enough to explain a failure.
    log = (log + chunk).slice(-20_000);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code, signal) =>
      reject(new Error(`moto_server exited (${signal ?? code}) while starting:\n${log}`)),
    ),
  );
  exited.catch(() => {});
  await Promise.race([waitForHttp(`${endpoint}/moto-api/`, 30_000), exited]);

  const admin = await createAdmin(endpoint, region);
  const resetAuth = async (freeCalls: string) => {
    const res = await fetch(`${endpoint}/moto-api/reset-auth`, { method: "POST", body: freeCalls });
    if (!res.ok) throw new Error(`moto reset-auth answered ${res.status}`);
  };
  return {
    endpoint,
    region,
    accountId: MOTO_ACCOUNT,
    admin,
    enforceIam: () => resetAuth("0"),
    relaxIam: () => resetAuth("inf"),
    stop: () => stop(child),
  };
}

async function createAdmin(endpoint: string, region: string): Promise<Credentials> {
  const iam = new IAMClient({
    endpoint,
    region,
    credentials: { accessKeyId: "bootstrap", secretAccessKey: "bootstrap" },
  });
  try {
    await iam.send(new CreateUserCommand({ UserName: "deployer" }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: "deployer",
        PolicyName: "everything",
        PolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
        }),
      }),
    );
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: "deployer" }));
    return { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
  } finally {
    iam.destroy();
  }
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {}
    if (Date.now() > until) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
