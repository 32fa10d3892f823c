/**
 * The deployed function, running: its package on the Lambda-like host with the execution role's credentials,
 * fed by the event source its stack deployed (direct mode: S3's notifications as asynchronous invocations;
 * sqs mode: the event source mapping's queue).
 */
import { join } from "node:path";
import type { Aws } from "./clients";
import { AsyncInvoker, SqsPoller } from "./event-sources";
import { createRuntimeDir, type DeployedFunction, fetchFunction, LambdaHost } from "./lambda-host";
import type { Credentials, Moto } from "./moto";
import type { DeployedStack } from "./stack";
import type { Json } from "./template";

export interface RunningFunction {
  fn: DeployedFunction;
  host: LambdaHost;
  roleCredentials: Credentials;
  asyncInvoker?: AsyncInvoker;
  poller?: SqsPoller;
  /** Every line the function wrote, parsed where it is JSON (its logs and EMF documents). */
  records(): Json[];
  close(): Promise<void>;
}

/**
 * Lambda assumes the role as lambda.amazonaws.com, which the trust policy allows. moto checks the trust policy
 * against the caller, the deployer here: the role's credentials are taken while IAM is not yet enforced.
 */
export async function assumeRole(aws: Aws, roleArn: string): Promise<Credentials> {
  const { Credentials: c } = await aws.sts.assumeRole({
    RoleArn: roleArn,
    RoleSessionName: "lambda",
    DurationSeconds: 43200,
  });
  return { accessKeyId: c!.AccessKeyId!, secretAccessKey: c!.SecretAccessKey!, sessionToken: c!.SessionToken! };
}

export interface RunOptions {
  moto: Moto;
  aws: Aws;
  stack: DeployedStack;
  dir: string;
  /** The async retries' waits (Lambda: about 1 and 2 minutes). */
  retryDelaysMs?: number[];
}

export async function runFunction({ moto, aws, stack, dir, retryDelaysMs }: RunOptions): Promise<RunningFunction> {
  const fn = await fetchFunction(aws, stack, join(dir, stack.stage));
  const roleCredentials = await assumeRole(aws, fn.roleArn);
  const runtimeDir = await createRuntimeDir(join(dir, stack.stage, "runtime"));
  const host = new LambdaHost(fn, {
    credentials: roleCredentials,
    endpoint: moto.endpoint,
    region: moto.region,
    runtimeDir,
  });
  const roleSqs = aws.sqs.as(roleCredentials);
  const running: RunningFunction = {
    fn,
    host,
    roleCredentials,
    records: () =>
      host.logs.flatMap((line) => {
        try {
          return [JSON.parse(line)];
        } catch {
          return [];
        }
      }),
    close: async () => {
      running.asyncInvoker?.stop();
      await running.poller?.stop();
      host.close();
    },
  };

  if (stack.invocationQueueUrl) {
    const config = await aws.lambda.getFunctionEventInvokeConfig({ FunctionName: fn.name });
    const destination = config.DestinationConfig?.OnFailure?.Destination;
    running.asyncInvoker = new AsyncInvoker(
      host,
      {
        maximumRetryAttempts: config.MaximumRetryAttempts ?? 2,
        maximumEventAgeSeconds: config.MaximumEventAgeInSeconds ?? 21600,
        onFailureQueueUrl: destination ? await aws.sqs.queueUrl(destination.split(":").pop()!) : undefined,
      },
      roleSqs,
      retryDelaysMs,
    );
    running.asyncInvoker.pollNotifications(aws.sqs, stack.invocationQueueUrl);
  }
  if (stack.eventSource) {
    const { queueArn, batchSize, batchingWindowSeconds, reportBatchItemFailures, maximumConcurrency } =
      stack.eventSource;
    running.poller = new SqsPoller(host, roleSqs, {
      queueUrl: await aws.sqs.queueUrl(queueArn.split(":").pop()!),
      queueArn,
      region: moto.region,
      batchSize,
      batchingWindowSeconds,
      reportBatchItemFailures,
      pollers: Math.min(5, maximumConcurrency ?? 5),
    });
    running.poller.start();
  }
  return running;
}
