/**
 * `serverless deploy` into moto, as a user deploys into AWS (osls reaches moto through AWS_ENDPOINT_URL,
 * which the AWS SDK v3 reads), then what moto's CloudFormation leaves out of the stack, applied by the
 * harness through each service's own API from the deployed template. Each such gap is named where it is
 * worked around; nothing of the product is changed for moto.
 */
import { join } from "node:path";
import type { FunctionEventInvokeConfig } from "@aws-sdk/client-lambda";
import {
  GetBucketNotificationConfigurationCommand,
  type NotificationConfiguration,
  PutBucketNotificationConfigurationCommand,
} from "@aws-sdk/client-s3";
import { type Aws, awsEnv } from "./clients";
import type { Moto } from "./moto";
import { copyProject, runServerless, type ServerlessRun, serverlessError } from "./serverless";
import { type Deployed, type Evaluated, evaluate, type Json, resolveDeployed } from "./template";

export interface EventSourceMapping {
  uuid: string;
  queueArn: string;
  batchSize: number;
  batchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  maximumConcurrency?: number;
}

export interface DeployedStack extends Deployed {
  stage: string;
  /** The template as deployed, and as CloudFormation reads it with the stack's parameters. */
  template: Json;
  evaluated: Evaluated;
  outputs: Record<string, string>;
  functionName: string;
  roleName: string;
  /** What the bucket's notification configuration sends to the function (direct mode): see notifyFunction. */
  invocationQueueUrl?: string;
  /** The SQS event source (sqs mode), as the Lambda API reports it; moto's own poller is disabled. */
  eventSource?: EventSourceMapping;
  deploySeconds: number;
}

export interface DeployOptions {
  moto: Moto;
  aws: Aws;
  workspace: string;
  stage: string;
  params: Record<string, string>;
}

/** `serverless deploy --stage STAGE --region REGION --param …` into moto, as the deployer, from a copy of the project. */
export async function serverlessDeploy(
  moto: Moto,
  workspace: string,
  stage: string,
  params: Record<string, string>,
): Promise<ServerlessRun> {
  const project = join(workspace, `project-${stage}`);
  await copyProject(project);
  return runServerless(project, ["deploy", "--stage", stage, "--region", moto.region], params, awsEnv(moto));
}

export async function deployStack({ moto, aws, workspace, stage, params }: DeployOptions): Promise<DeployedStack> {
  const run = await serverlessDeploy(moto, workspace, stage, params);
  if (run.code !== 0)
    throw new Error(`serverless deploy (${stage}) failed: ${serverlessError(run) || `${run.stdout}\n${run.stderr}`}`);

  const stackName = `s3-to-lark-${stage}`;
  const [{ StackResources = [] }, { TemplateBody }, { Stacks = [] }] = await Promise.all([
    aws.cloudformation.describeStackResources({ StackName: stackName }),
    aws.cloudformation.getTemplate({ StackName: stackName }),
    aws.cloudformation.describeStacks({ StackName: stackName }),
  ]);
  const template = JSON.parse(TemplateBody!);
  const parameters = Object.fromEntries((Stacks[0]?.Parameters ?? []).map((p) => [p.ParameterKey!, p.ParameterValue!]));
  const evaluated = evaluate(template, {}, parameters);
  const physical: Record<string, string> = {};
  const types: Record<string, string> = {};
  for (const r of StackResources) {
    if (!r.LogicalResourceId || !r.PhysicalResourceId) continue;
    physical[r.LogicalResourceId] = r.PhysicalResourceId;
    types[r.LogicalResourceId] = r.ResourceType!;
  }
  for (const [id, r] of Object.entries(evaluated.resources)) types[id] ??= r.Type;
  const at: Deployed = { partition: "aws", region: moto.region, accountId: moto.accountId, stackName, physical, types };
  const functionId = Object.keys(evaluated.resources).find(
    (id) => evaluated.resources[id].Properties?.Handler === "functions/upload-to-lark.handler",
  )!;
  const roleId = evaluated.resources[functionId].Properties.Role["Fn::GetAtt"][0];
  const stack: DeployedStack = {
    ...at,
    stage,
    template,
    evaluated,
    outputs: {},
    functionName: physical[functionId]!,
    roleName: physical[roleId]!,
    deploySeconds: run.seconds,
  };
  const resolved = (value: Json) => resolveDeployed(value, at);

  // moto's CloudFormation executes a change set without recomputing the stack's Outputs (osls deploys
  // through change sets): they are computed from the deployed template instead.
  // (moto gives a Lambda::Version no physical id: osls's QualifiedArn output has no value here.)
  for (const [key, output] of Object.entries(evaluated.outputs)) {
    if (key.endsWith("QualifiedArn")) continue;
    stack.outputs[key] = resolved(output.Value);
  }

  await putRolePolicies(aws, stack, resolved);

  for (const [id, resource] of Object.entries(evaluated.resources)) {
    const props = resolved(resource.Properties ?? {});
    switch (resource.Type) {
      case "AWS::S3::Bucket":
        // moto's CloudFormation ignores a bucket's NotificationConfiguration.
        if (props.NotificationConfiguration)
          await notify(aws, stack, props.BucketName, props.NotificationConfiguration);
        break;
      case "Custom::S3":
        // The existing bucket's subscription is osls's custom resource, a Lambda function: moto would run it in
        // Docker (and completes the stack without waiting for it). The harness does what it does: merge these
        // rules into the bucket's configuration.
        await notify(aws, stack, props.BucketName, {
          LambdaConfigurations: props.BucketConfigs.map((c: Json) => ({
            Event: c.Event,
            Function: `arn:aws:lambda:${at.region}:${at.accountId}:function:${props.FunctionName}`,
            Filter: c.Rules.length
              ? {
                  S3Key: {
                    Rules: c.Rules.map((r: Json) => ({
                      Name: Object.keys(r)[0]!.toLowerCase(),
                      Value: Object.values(r)[0],
                    })),
                  },
                }
              : undefined,
          })),
        });
        break;
      case "AWS::Lambda::EventInvokeConfig":
        // Skipped by moto's CloudFormation.
        await aws.lambda.putFunctionEventInvokeConfig({
          ...(props as FunctionEventInvokeConfig),
          FunctionName: props.FunctionName,
          Qualifier: props.Qualifier,
        });
        break;
      case "AWS::SQS::QueuePolicy":
        // Skipped by moto's CloudFormation (and moto does not evaluate queue policies for service principals:
        // set so the deployed state is whole; test/deploy.test.ts asserts what it allows).
        for (const queueUrl of props.Queues)
          await aws.sqs.setAttributes(queueUrl, { Policy: JSON.stringify(props.PolicyDocument) });
        break;
      case "AWS::CloudWatch::Alarm":
        // Skipped by moto's CloudFormation. moto keeps alarms but evaluates none.
        await aws.cloudwatch.putMetricAlarm({ AlarmName: `${stackName}-${id}`, ...props });
        break;
      case "AWS::Lambda::EventSourceMapping": {
        // moto's own SQS poller would run the function on every message it receives (in Docker, which fails):
        // the mapping is read as deployed, then disabled, and polled by the harness (event-sources.ts).
        const mapping = await aws.lambda.getEventSourceMapping({ UUID: physical[id] });
        await aws.lambda.updateEventSourceMapping({ UUID: physical[id], Enabled: false });
        stack.eventSource = {
          uuid: physical[id]!,
          queueArn: mapping.EventSourceArn!,
          batchSize: mapping.BatchSize!,
          batchingWindowSeconds: mapping.MaximumBatchingWindowInSeconds ?? 0,
          reportBatchItemFailures: (mapping.FunctionResponseTypes ?? []).includes("ReportBatchItemFailures"),
          maximumConcurrency: mapping.ScalingConfig?.MaximumConcurrency,
        };
        break;
      }
      case "AWS::S3::BucketPolicy":
      // osls's deployment bucket policy refuses plain http; moto is served over http, so applying it would
      // refuse the harness's own download of the package. It concerns the deployment, not the function.
      case "AWS::IAM::Role":
      case "AWS::IAM::Policy":
      // Both applied by putRolePolicies.
      case "AWS::Lambda::Function":
      case "AWS::Lambda::Version":
      case "AWS::Lambda::Permission":
      case "AWS::Logs::LogGroup":
      case "AWS::SQS::Queue":
      case "AWS::Events::Rule":
        break;
      default:
        throw new Error(`${id} (${resource.Type}): the harness does not know whether moto deploys it`);
    }
  }
  return stack;
}

/**
 * The role's policies as the template writes them, put again through IAM:
 * - moto's CloudFormation stores a role's inline policies as Python reprs, which its own IAM enforcement cannot
 *   read: every policy would count as empty;
 * - moto checks SSM, Secrets Manager and KMS calls against Resource "*" (it has no resource for them), so a
 *   statement scoped to an ARN never matches there: those statements get Resource "*". Their actions are still
 *   enforced; their ARNs are asserted on the template (test/deploy.test.ts).
 */
async function putRolePolicies(aws: Aws, stack: DeployedStack, resolved: (v: Json) => Json): Promise<void> {
  const { evaluated, roleName } = stack;
  const roleId = Object.keys(evaluated.resources).find((id) => stack.physical[id] === roleName)!;
  const policies: { PolicyName: string; PolicyDocument: Json }[] = [
    ...(evaluated.resources[roleId].Properties.Policies ?? []),
    ...Object.values(evaluated.resources)
      .filter((r: Json) => r.Type === "AWS::IAM::Policy" && r.Properties.Roles.some((x: Json) => x.Ref === roleId))
      .map((r: Json) => r.Properties),
  ];
  for (const policy of policies) {
    const document = resolved(policy.PolicyDocument);
    for (const statement of document.Statement) {
      const actions = [statement.Action].flat() as string[];
      if (actions.every((a) => /^(ssm|secretsmanager|kms):/.test(a))) statement.Resource = "*";
    }
    await aws.iam.putRolePolicy({
      RoleName: roleName,
      PolicyName: resolved(policy.PolicyName),
      PolicyDocument: JSON.stringify(document),
    });
  }
}

/**
 * Applies a notification configuration (CloudFormation's shape) to the bucket, merged into what it has.
 * moto's S3 hands a Lambda notification to moto's Lambda, which cannot run code: each Lambda configuration is
 * applied to a queue of the harness instead, with the same events and filter. moto builds the same event for
 * either target, so the queue receives exactly what S3 would hand Lambda, and the harness delivers it as
 * Lambda's asynchronous invocation does (event-sources.ts).
 */
async function notify(aws: Aws, stack: DeployedStack, bucket: string, config: Json): Promise<void> {
  const current = await aws.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
  const filter = (f: Json) => (f ? { Key: { FilterRules: f.S3Key.Rules } } : undefined);
  const next: NotificationConfiguration = {
    TopicConfigurations: current.TopicConfigurations,
    QueueConfigurations: [...(current.QueueConfigurations ?? [])],
    LambdaFunctionConfigurations: current.LambdaFunctionConfigurations,
  };
  for (const c of config.QueueConfigurations ?? [])
    next.QueueConfigurations!.push({ QueueArn: c.Queue, Events: [c.Event], Filter: filter(c.Filter) });
  if (config.LambdaConfigurations?.length) {
    stack.invocationQueueUrl ??= await aws.sqs.createQueue(`${stack.stackName}-invocations`);
    const queueArn = `arn:aws:sqs:${stack.region}:${stack.accountId}:${stack.stackName}-invocations`;
    const functionArn = `arn:aws:lambda:${stack.region}:${stack.accountId}:function:${stack.functionName}`;
    for (const c of config.LambdaConfigurations) {
      if (c.Function !== functionArn) throw new Error(`${bucket} notifies ${c.Function}, not the stack's function`);
      next.QueueConfigurations!.push({ QueueArn: queueArn, Events: [c.Event], Filter: filter(c.Filter) });
    }
  }
  if (config.EventBridgeConfiguration?.EventBridgeEnabled) next.EventBridgeConfiguration = {};
  await aws.s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: bucket, NotificationConfiguration: next }));
}
