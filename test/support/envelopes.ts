/**
 * The routes an S3 event takes to a function, as AWS documents their shapes: an SQS message, an SNS
 * notification (as SQS receives it, and as Lambda receives it), an EventBridge event. These agree with our
 * own reading of AWS; the moto stage feeds the handler what an independent implementation emits.
 */
import { randomUUID } from "node:crypto";
import type { AwsS3Record } from "../../local/local-s3";

const REGION = "us-east-1";
const ACCOUNT = "111122223333";
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:s3-events`;

export type S3Notification = { Records: AwsS3Record[] } | Record<string, unknown>;

/** What S3 sends when a notification is configured. */
export function testEvent(bucket: string): Record<string, unknown> {
  return {
    Service: "Amazon S3",
    Event: "s3:TestEvent",
    Time: new Date().toISOString(),
    Bucket: bucket,
    RequestId: "5582815E1AEA5ADF",
    HostId: "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
  };
}

/** The SNS notification JSON, as an SQS queue subscribed without raw message delivery receives it. */
export function snsEnvelope(message: unknown): Record<string, unknown> {
  return {
    Type: "Notification",
    MessageId: randomUUID(),
    TopicArn: TOPIC,
    Subject: "Amazon S3 Notification",
    Message: JSON.stringify(message),
    Timestamp: new Date().toISOString(),
    SignatureVersion: "1",
    Signature:
      "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
    SigningCertURL: "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
    UnsubscribeURL: `https://sns.${REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${TOPIC}:1`,
  };
}

/** An SQS event; each body is sent as given (a string) or as JSON. */
export function sqsEvent(bodies: { messageId: string; body: unknown }[]): Record<string, unknown> {
  return {
    Records: bodies.map(({ messageId, body }) => ({
      messageId,
      receiptHandle: `AQEB${messageId}`,
      body: typeof body === "string" ? body : JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: "1",
        SentTimestamp: String(Date.now()),
        SenderId: "AIDAEXAMPLE",
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:s3-events`,
      awsRegion: REGION,
    })),
  };
}

/** SNS invoking a function: note Lambda's own spelling of SigningCertUrl and UnsubscribeUrl. */
export function snsLambdaEvent(messages: unknown[]): Record<string, unknown> {
  return {
    Records: messages.map((message) => {
      const envelope = snsEnvelope(message);
      return {
        EventSource: "aws:sns",
        EventVersion: "1.0",
        EventSubscriptionArn: `${TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55`,
        Sns: {
          Type: envelope.Type,
          MessageId: envelope.MessageId,
          TopicArn: TOPIC,
          Subject: envelope.Subject,
          Message: envelope.Message,
          Timestamp: envelope.Timestamp,
          SignatureVersion: "1",
          Signature: envelope.Signature,
          SigningCertUrl: envelope.SigningCertURL,
          UnsubscribeUrl: envelope.UnsubscribeURL,
          MessageAttributes: {},
        },
      };
    }),
  };
}

/** The EventBridge event S3 sends for one record (its key stays URL-encoded, as in the notification). */
export function eventBridgeEvent(
  record: AwsS3Record,
  detailType = "Object Created",
  reason = "PutObject",
): Record<string, unknown> {
  const { bucket, object } = record.s3;
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": detailType,
    source: "aws.s3",
    account: ACCOUNT,
    time: new Date().toISOString(),
    region: REGION,
    resources: [`arn:aws:s3:::${bucket.name}`],
    detail: {
      version: "0",
      bucket: { name: bucket.name },
      object: {
        key: object.key,
        size: object.size,
        etag: object.eTag,
        ...(object.versionId ? { "version-id": object.versionId } : {}),
        sequencer: object.sequencer,
      },
      "request-id": "N4N7GDK58NMKJ12R",
      requester: ACCOUNT,
      "source-ip-address": "203.0.113.15",
      reason,
    },
  };
}

/**
 * The record S3 sends for another event about the same object (a tag change, a deletion, a lifecycle
 * transition…): the object's key and ETag, without the size those events do not carry.
 */
export function otherEvent(record: AwsS3Record, eventName: string): { Records: AwsS3Record[] } {
  const { size: _size, ...object } = record.s3.object;
  return { Records: [{ ...record, eventName, s3: { ...record.s3, object: object as AwsS3Record["s3"]["object"] } }] };
}
