/** AWS SDK clients pointed at moto, as one identity (the deployer by default). */
import { CloudFormation } from "@aws-sdk/client-cloudformation";
import { CloudWatch } from "@aws-sdk/client-cloudwatch";
import { EventBridge } from "@aws-sdk/client-eventbridge";
import { IAM } from "@aws-sdk/client-iam";
import { Lambda } from "@aws-sdk/client-lambda";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManager } from "@aws-sdk/client-secrets-manager";
import { SNS } from "@aws-sdk/client-sns";
import { SSM } from "@aws-sdk/client-ssm";
import { STS } from "@aws-sdk/client-sts";
import type { AwsEndpoint } from "./aws-json";
import type { Credentials, Moto } from "./moto";
import { Sqs } from "./sqs";

export interface Aws {
  to: AwsEndpoint;
  s3: S3Client;
  cloudformation: CloudFormation;
  lambda: Lambda;
  iam: IAM;
  sts: STS;
  ssm: SSM;
  secrets: SecretsManager;
  events: EventBridge;
  sns: SNS;
  cloudwatch: CloudWatch;
  sqs: Sqs;
  close(): void;
}

export function awsClients(moto: Moto, credentials: Credentials = moto.admin): Aws {
  const to = { endpoint: moto.endpoint, region: moto.region, credentials };
  const config = { ...to, maxAttempts: 2 };
  const clients = {
    s3: new S3Client({
      ...config,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    }),
    cloudformation: new CloudFormation(config),
    lambda: new Lambda(config),
    iam: new IAM(config),
    sts: new STS(config),
    ssm: new SSM(config),
    secrets: new SecretsManager(config),
    events: new EventBridge(config),
    sns: new SNS(config),
    cloudwatch: new CloudWatch(config),
  };
  return {
    to,
    ...clients,
    sqs: new Sqs(to),
    close: () => {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}

/**
 * The environment of a process that should reach moto as `credentials` (osls, the backfill, the AWS CLI):
 * the endpoint, the keys, and nothing read from this machine's own AWS configuration.
 */
export function awsEnv(moto: Moto, credentials: Credentials = moto.admin): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/aws-credentials",
    AWS_CONFIG_FILE: "/nonexistent/aws-config",
    AWS_EC2_METADATA_DISABLED: "true",
  };
}
