/**
 * Events from an implementation we did not write: moto's S3 notifies moto's SQS and SNS, and what arrives is
 * fed untouched to the handler (lib/handler, wired as test/support/stack.ts wires it, with S3 = moto). Keys
 * with spaces, "+", "%" and non-ASCII characters, in moto's own encoding (it also encodes "/" as %2F), and
 * S3's test event, through four routes:
 *
 *   S3 -> SQS                    (the body is the S3 event)
 *   S3 -> SNS -> SQS             (the body is SNS's envelope)
 *   S3 -> SNS -> SQS, raw        (raw message delivery: the body is the S3 event)
 *   S3 -> SNS -> Lambda          (Records[].Sns)
 *
 * IAM is not enforced here: moto's S3 signature check fails for keys with "+", "%" or non-ASCII characters.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CreateBucketCommand, PutBucketNotificationConfigurationCommand } from "@aws-sdk/client-s3";
import { loadConfig } from "../../lib/config";
import { createHandler } from "../../lib/handler";
import { createLogger } from "../../lib/log";
import { createRuntime } from "../../lib/runtime";
import { lambdaSqsEvent } from "../../local/aws/event-sources";
import type { SqsMessage } from "../../local/aws/sqs";
import type { Json } from "../../local/aws/template";
import { type AwsStage, objectState, putObject, startAwsStage, waitFor } from "./support";

const BUCKET = "events";
const NAMES = ["with space.txt", "plus+sign.txt", "100% done.txt", "ünïcödé 文件.txt", "a/b/deep key.txt"];
const TO_DOCX = { "lark-parent-type": "docx_file", "lark-parent-node": "doxcnTarget01" };
const ROUTES = ["sqs", "sns", "sns-raw", "sns-lambda"] as const;
type Route = (typeof ROUTES)[number];

let stage: AwsStage;
let handler: ReturnType<typeof createHandler>;
const logs: Json[] = [];
const queues = {} as Record<Route, { url: string; arn: string }>;
/** What each route delivered, as the function receives it. */
const delivered = {} as Record<Route, SqsMessage[]>;

before(async () => {
  stage = await startAwsStage();
  const { aws, moto, lark } = stage;
  for (const route of ROUTES) {
    const url = await aws.sqs.createQueue(`events-${route}`);
    queues[route] = { url, arn: (await aws.sqs.attributes(url)).QueueArn! };
  }
  const { TopicArn } = await aws.sns.createTopic({ Name: "s3-events" });
  for (const [route, raw] of [
    ["sns", false],
    ["sns-raw", true],
    ["sns-lambda", false],
  ] as const) {
    await aws.sns.subscribe({
      TopicArn,
      Protocol: "sqs",
      Endpoint: queues[route].arn,
      Attributes: raw ? { RawMessageDelivery: "true" } : {},
    });
  }
  await aws.s3.send(
    new CreateBucketCommand({
      Bucket: BUCKET,
      CreateBucketConfiguration: { LocationConstraint: moto.region as never },
    }),
  );
  // One prefix per destination: S3 refuses two configurations of one event type that overlap.
  await aws.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: BUCKET,
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            QueueArn: queues.sqs.arn,
            Events: ["s3:ObjectCreated:*"],
            Filter: { Key: { FilterRules: [{ Name: "prefix", Value: "sqs/" }] } },
          },
        ],
        TopicConfigurations: [
          {
            TopicArn,
            Events: ["s3:ObjectCreated:*"],
            Filter: { Key: { FilterRules: [{ Name: "prefix", Value: "sns/" }] } },
          },
        ],
      },
    }),
  );

  // The handler as the Lambda builds it, its S3 client pointed at moto.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: moto.admin.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.admin.secretAccessKey,
    AWS_REGION: moto.region,
  });
  const runtime = createRuntime(
    loadConfig({
      LARK_APP_ID: lark.appId,
      LARK_APP_SECRET: lark.appSecret,
      LARK_BASE_URL: lark.url,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
    }),
  );
  handler = createHandler({
    runtime: () => runtime,
    logger: createLogger({}, { write: (line) => logs.push(JSON.parse(line)) }),
    writeMetrics: () => {},
  });

  for (const name of NAMES) {
    await putObject(aws, BUCKET, `sqs/${name}`, `via SQS: ${name}`, { tags: TO_DOCX });
    await putObject(aws, BUCKET, `sns/${name}`, `via SNS: ${name}`, { tags: TO_DOCX });
  }
  // Each route carries the test event S3 sent when the configuration was written, and one event per put.
  for (const route of ROUTES) {
    const messages: SqsMessage[] = [];
    await waitFor(`${NAMES.length + 1} messages on ${route}`, async () => {
      messages.push(...(await aws.sqs.receive(queues[route].url, { max: 10 })));
      return messages.length >= NAMES.length + 1 ? true : undefined;
    });
    delivered[route] = messages;
  }
});

after(async () => {
  await stage?.close();
});

/** Lambda's SNS event, built from the notification moto's SNS delivered to a subscriber (Lambda spells two fields its own way). */
function lambdaSnsEvent(envelopes: Json[], subscriptionArn: string) {
  return {
    Records: envelopes.map((e) => ({
      EventSource: "aws:sns",
      EventVersion: "1.0",
      EventSubscriptionArn: subscriptionArn,
      Sns: {
        Type: e.Type,
        MessageId: e.MessageId,
        TopicArn: e.TopicArn,
        Subject: e.Subject ?? null,
        Message: e.Message,
        Timestamp: e.Timestamp,
        SignatureVersion: e.SignatureVersion,
        Signature: e.Signature,
        SigningCertUrl: e.SigningCertURL,
        UnsubscribeUrl: e.UnsubscribeURL,
        MessageAttributes: e.MessageAttributes ?? {},
      },
    })),
  };
}

const context = () => ({ awsRequestId: "moto-events", getRemainingTimeInMillis: () => 60_000 });

test("what moto delivered: its test event and its key encoding, in each route's shape", () => {
  const s3Event = (route: Route, body: string) => {
    const parsed = JSON.parse(body);
    return route === "sqs" || route === "sns-raw" ? parsed : JSON.parse(parsed.Message);
  };
  for (const route of ROUTES) {
    const events = delivered[route].map((m) => s3Event(route, m.Body));
    assert.equal(events.filter((e) => e.Event === "s3:TestEvent").length, 1, `${route}: one s3:TestEvent`);
    const keys = events.filter((e) => e.Records).map((e) => e.Records[0].s3.object.key);
    // moto encodes like Python's quote_plus: "/" as %2F too, which AWS leaves as is.
    assert.ok(keys.includes(`${route === "sqs" ? "sqs" : "sns"}%2Fwith+space.txt`), `${route}: ${keys.join(" ")}`);
    if (route === "sns" || route === "sns-lambda")
      for (const m of delivered[route]) assert.equal(JSON.parse(m.Body).Type, "Notification");
  }
});

for (const route of ROUTES) {
  test(`${route}: the handler takes the events as they arrived and every file ends with its token`, async () => {
    const { aws, moto } = stage;
    const messages = delivered[route];
    const event =
      route === "sns-lambda"
        ? lambdaSnsEvent(
            messages.map((m) => JSON.parse(m.Body)),
            `arn:aws:sns:${moto.region}:${moto.accountId}:s3-events:subscription`,
          )
        : lambdaSqsEvent(messages, { queueArn: queues[route].arn, region: moto.region });
    const result = (await handler(event, context())) as Json;
    if (route === "sns-lambda") assert.equal(result.objects.length, NAMES.length);
    else assert.deepEqual(result.batchItemFailures, [], JSON.stringify(result));
    const prefix = route === "sqs" ? "sqs" : "sns";
    for (const name of NAMES) {
      const state = await objectState(aws, BUCKET, `${prefix}/${name}`);
      const file = stage.lark.files.find((f) => f.fileToken === state.token);
      assert.ok(file, `${route}: ${prefix}/${name} has a token Lark gave`);
      assert.equal(file.fileName, name.split("/").pop());
    }
  });
}

test("one upload per object across all routes: the three SNS routes carried the same events, and only the first uploaded", () => {
  const uploaded = logs.filter((l) => l.message === "uploaded").map((l) => l.key);
  assert.deepEqual(uploaded.sort(), [...NAMES.map((n) => `sqs/${n}`), ...NAMES.map((n) => `sns/${n}`)].sort());
  assert.equal(stage.lark.files.length, NAMES.length * 2);
  const skipped = logs.filter((l) => l.message === "skipped" && l.reason === "already-uploaded");
  assert.equal(skipped.length, NAMES.length * 2, "the later SNS routes found their objects uploaded");
});
