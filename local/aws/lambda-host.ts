/**
 * A Lambda-like host for the deployed function: moto stores functions but cannot run them (that needs Docker),
 * so the host takes what the emulator's Lambda API says was deployed (the package, handler, environment,
 * timeout, memory, reserved concurrency, role) and runs it the way Lambda does: one child process per execution
 * environment ("instance"), reused while warm, at most `reserved concurrency` of them busy at once, killed at
 * the timeout, failed past the memory size. The function gets Lambda's environment variables and the role's
 * credentials; the only addition is AWS_ENDPOINT_URL, which sends its AWS SDK to moto.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { Aws } from "./clients";
import type { Credentials } from "./moto";
import { ROOT } from "./serverless";
import type { DeployedStack } from "./stack";
import { unzip } from "./zip";

const RUNTIME = fileURLToPath(new URL("./lambda-runtime.mjs", import.meta.url));

export interface DeployedFunction {
  name: string;
  arn: string;
  handler: string;
  runtime: string;
  timeoutSeconds: number;
  memoryMb: number;
  environment: Record<string, string>;
  roleArn: string;
  reservedConcurrency?: number;
  /** The unpacked package (Lambda's /var/task). */
  taskRoot: string;
  files: string[];
}

/**
 * The function as the emulator's Lambda API describes it, its package unpacked under `dir`. moto's
 * GetFunction gives a code URL on a host that does not exist (awslambda-REGION-tasks.s3…) but whose path is
 * the package's key in the deployment bucket: the package is read from there and must hash to the
 * function's CodeSha256, so it is byte for byte the code the function holds.
 */
export async function fetchFunction(aws: Aws, stack: DeployedStack, dir: string): Promise<DeployedFunction> {
  const { Configuration: c, Code } = await aws.lambda.getFunction({ FunctionName: stack.functionName });
  const key = decodeURIComponent(new URL(Code!.Location!).pathname.slice(1));
  const object = await aws.s3.send(
    new GetObjectCommand({ Bucket: stack.physical.ServerlessDeploymentBucket, Key: key }),
  );
  const zip = Buffer.from(await object.Body!.transformToByteArray());
  const sha = createHash("sha256").update(zip).digest("base64");
  if (sha !== c!.CodeSha256)
    throw new Error(`the package at ${key} (sha256 ${sha}) is not the function's code (${c!.CodeSha256})`);
  const { ReservedConcurrentExecutions } = await aws.lambda.getFunctionConcurrency({ FunctionName: c!.FunctionName });
  const taskRoot = join(dir, "task");
  const files = await unzip(zip, taskRoot);
  return {
    name: c!.FunctionName!,
    arn: c!.FunctionArn!,
    handler: c!.Handler!,
    runtime: c!.Runtime!,
    timeoutSeconds: c!.Timeout!,
    memoryMb: c!.MemorySize!,
    environment: c!.Environment?.Variables ?? {},
    roleArn: c!.Role!,
    reservedConcurrency: ReservedConcurrentExecutions,
    taskRoot,
    files,
  };
}

export interface LambdaError {
  errorType: string;
  errorMessage: string;
  stackTrace?: string[];
}

export interface Invocation {
  requestId: string;
  /** What the handler returned; absent when it failed. */
  payload?: unknown;
  error?: LambdaError;
  /** The lines the invocation wrote (its JSON logs and EMF metrics). */
  logs: string[];
  durationMs: number;
  coldStart: boolean;
}

export interface HostOptions {
  /** The execution role's credentials (the harness assumes the role, as Lambda does). */
  credentials: Credentials;
  endpoint: string;
  region: string;
  /** Where the runtime's copy of the AWS SDK lives (the bundle leaves the secret-store clients to it). */
  runtimeDir: string;
  /** Every line an instance writes, as it comes. */
  onLog?: (line: string) => void;
}

export class LambdaHost {
  private readonly idle: Instance[] = [];
  private busy = 0;
  readonly stats = { invocations: 0, coldStarts: 0, throttles: 0, maxConcurrent: 0, errors: 0 };
  readonly logs: string[] = [];
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly fn: DeployedFunction,
    private readonly opts: HostOptions,
  ) {}

  get concurrency(): number {
    return this.fn.reservedConcurrency ?? 1000;
  }

  /** Runs the event on a free instance now; undefined when `concurrency` instances are busy (a throttle). */
  tryInvoke(event: unknown): Promise<Invocation> | undefined {
    if (this.busy >= this.concurrency) {
      this.stats.throttles++;
      return undefined;
    }
    return this.run(event);
  }

  /** Waits for a free instance, then runs the event (a synchronous caller that retries its throttles). */
  async invoke(event: unknown): Promise<Invocation> {
    while (this.busy >= this.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    return this.run(event);
  }

  private async run(event: unknown): Promise<Invocation> {
    this.busy++;
    this.stats.invocations++;
    this.stats.maxConcurrent = Math.max(this.stats.maxConcurrent, this.busy);
    let instance = this.idle.pop();
    const coldStart = !instance;
    try {
      if (!instance) {
        this.stats.coldStarts++;
        instance = new Instance(this.fn, this.environment(), (line) => {
          this.logs.push(line);
          this.opts.onLog?.(line);
        });
      }
      const result = await instance.invoke(event);
      if (result.error) this.stats.errors++;
      if (instance.alive) this.idle.push(instance);
      return { ...result, coldStart };
    } finally {
      this.busy--;
      this.waiting.shift()?.();
    }
  }

  /** What Lambda sets in an execution environment (nodejs runtimes), and the endpoint of the emulator. */
  private environment(): Record<string, string> {
    const { fn, opts } = this;
    const stream = `${new Date().toISOString().slice(0, 10).replace(/-/g, "/")}/[$LATEST]${randomUUID().replace(/-/g, "")}`;
    return {
      ...fn.environment,
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: stream,
      AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
      AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
      AWS_REGION: opts.region,
      AWS_DEFAULT_REGION: opts.region,
      AWS_ACCESS_KEY_ID: opts.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: opts.credentials.secretAccessKey,
      ...(opts.credentials.sessionToken ? { AWS_SESSION_TOKEN: opts.credentials.sessionToken } : {}),
      LAMBDA_TASK_ROOT: fn.taskRoot,
      LAMBDA_RUNTIME_DIR: opts.runtimeDir,
      _HANDLER: fn.handler,
      // Lambda's runtime resolves modules from its own node_modules (where its AWS SDK is) after the package.
      NODE_PATH: join(opts.runtimeDir, "node_modules"),
      TZ: ":UTC",
      LANG: "en_US.UTF-8",
      PATH: process.env.PATH ?? "",
      AWS_ENDPOINT_URL: opts.endpoint,
    };
  }

  close(): void {
    for (const instance of this.idle.splice(0)) instance.kill();
  }
}

/**
 * Lambda's runtime brings the AWS SDK v3 (the bundle leaves @aws-sdk/client-ssm and -secrets-manager to it):
 * a runtime directory whose node_modules holds the project's @aws-sdk, and nothing else of node_modules.
 */
export async function createRuntimeDir(dir: string): Promise<string> {
  await mkdir(join(dir, "node_modules"), { recursive: true });
  await symlink(join(ROOT, "node_modules", "@aws-sdk"), join(dir, "node_modules", "@aws-sdk"), "dir");
  return dir;
}

type Result = Omit<Invocation, "coldStart">;
type Reply = { payload?: unknown; error?: LambdaError; maxRssBytes?: number };

class Instance {
  private readonly child: ChildProcess;
  private readonly ready: Promise<LambdaError | undefined>;
  private current?: { requestId: string; logs: string[]; ended: () => void };
  alive = true;

  constructor(
    private readonly fn: DeployedFunction,
    env: Record<string, string>,
    onLog: (line: string) => void,
  ) {
    this.child = spawn(process.execPath, [RUNTIME], {
      cwd: fn.taskRoot,
      env,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    this.child.once("exit", () => {
      this.alive = false;
    });
    const take = (line: string) => {
      onLog(line);
      const current = this.current;
      if (!current) return;
      if (line === `END RequestId: ${current.requestId}`) current.ended();
      else current.logs.push(line);
    };
    createInterface({ input: this.child.stdout! }).on("line", take);
    createInterface({ input: this.child.stderr! }).on("line", take);
    this.ready = new Promise((resolve) => {
      this.child.once("message", (m: { type: string; error?: LambdaError }) => resolve(m.error));
      this.child.once("exit", (code, signal) =>
        resolve({ errorType: "Runtime.ExitError", errorMessage: `exited during init (${signal ?? code})` }),
      );
    });
  }

  async invoke(event: unknown): Promise<Result> {
    const requestId = randomUUID();
    const started = Date.now();
    const initError = await this.ready;
    if (initError) {
      this.kill();
      return { requestId, error: initError, logs: [], durationMs: Date.now() - started };
    }
    const timeoutMs = this.fn.timeoutSeconds * 1000;
    const logs: string[] = [];
    let ended!: () => void;
    const endLine = new Promise<void>((r) => (ended = r));
    this.current = { requestId, logs, ended };
    try {
      const reply = await new Promise<Reply>((resolve) => {
        const timer = setTimeout(() => {
          this.kill();
          resolve({
            error: {
              errorType: "Sandbox.Timedout",
              errorMessage: `Task timed out after ${this.fn.timeoutSeconds.toFixed(2)} seconds`,
            },
          });
        }, timeoutMs);
        const onExit = (code: number | null, signal: string | null) => {
          clearTimeout(timer);
          resolve({ error: { errorType: "Runtime.ExitError", errorMessage: `exited (${signal ?? code})` } });
        };
        this.child.once("exit", onExit);
        const child = this.child;
        child.on("message", function onMessage(m: Reply & { type: string; requestId: string }) {
          if (m.type !== "result" || m.requestId !== requestId) return;
          child.off("message", onMessage);
          child.off("exit", onExit);
          clearTimeout(timer);
          resolve(m);
        });
        this.child.send({ type: "invoke", requestId, event, deadline: started + timeoutMs, functionArn: this.fn.arn });
      });
      if (reply.maxRssBytes !== undefined && reply.maxRssBytes > this.fn.memoryMb * 1024 * 1024) {
        this.kill();
        return {
          requestId,
          error: {
            errorType: "Runtime.OutOfMemory",
            errorMessage: `peak ${Math.round(reply.maxRssBytes / 2 ** 20)} MB > ${this.fn.memoryMb} MB`,
          },
          logs,
          durationMs: Date.now() - started,
        };
      }
      if (this.alive) await endLine;
      return { requestId, payload: reply.payload, error: reply.error, logs, durationMs: Date.now() - started };
    } finally {
      this.current = undefined;
    }
  }

  kill(): void {
    this.alive = false;
    this.child.kill("SIGKILL");
  }
}
