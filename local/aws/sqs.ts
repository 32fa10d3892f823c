/** The SQS calls the harness makes, over {@link awsJson}. A queue is named by its URL, as the API does. */
import { type AwsEndpoint, awsJson } from "./aws-json";

export interface SqsMessage {
  MessageId: string;
  ReceiptHandle: string;
  MD5OfBody: string;
  Body: string;
  Attributes?: Record<string, string>;
  MessageAttributes?: Record<string, unknown>;
}

export class Sqs {
  constructor(readonly to: AwsEndpoint) {}

  /** The same calls as another identity (Lambda's poller uses the function's role). */
  as(credentials: AwsEndpoint["credentials"]): Sqs {
    return new Sqs({ ...this.to, credentials });
  }

  async createQueue(name: string, attributes: Record<string, string> = {}): Promise<string> {
    const out = await awsJson<{ QueueUrl: string }>(this.to, "sqs", "CreateQueue", {
      QueueName: name,
      Attributes: attributes,
    });
    return out.QueueUrl;
  }

  async queueUrl(name: string): Promise<string> {
    return (await awsJson<{ QueueUrl: string }>(this.to, "sqs", "GetQueueUrl", { QueueName: name })).QueueUrl;
  }

  async attributes(queueUrl: string): Promise<Record<string, string>> {
    const out = await awsJson<{ Attributes?: Record<string, string> }>(this.to, "sqs", "GetQueueAttributes", {
      QueueUrl: queueUrl,
      AttributeNames: ["All"],
    });
    return out.Attributes ?? {};
  }

  async setAttributes(queueUrl: string, attributes: Record<string, string>): Promise<void> {
    await awsJson(this.to, "sqs", "SetQueueAttributes", { QueueUrl: queueUrl, Attributes: attributes });
  }

  async receive(
    queueUrl: string,
    opts: { max?: number; waitSeconds?: number; visibilityTimeout?: number } = {},
  ): Promise<SqsMessage[]> {
    const out = await awsJson<{ Messages?: SqsMessage[] }>(this.to, "sqs", "ReceiveMessage", {
      QueueUrl: queueUrl,
      MaxNumberOfMessages: opts.max ?? 10,
      WaitTimeSeconds: opts.waitSeconds ?? 0,
      ...(opts.visibilityTimeout !== undefined ? { VisibilityTimeout: opts.visibilityTimeout } : {}),
      MessageSystemAttributeNames: ["All"],
      MessageAttributeNames: ["All"],
    });
    return out.Messages ?? [];
  }

  async delete(queueUrl: string, receiptHandle: string): Promise<void> {
    await awsJson(this.to, "sqs", "DeleteMessage", { QueueUrl: queueUrl, ReceiptHandle: receiptHandle });
  }

  async send(
    queueUrl: string,
    body: string,
    opts: { groupId?: string; deduplicationId?: string } = {},
  ): Promise<string> {
    const out = await awsJson<{ MessageId: string }>(this.to, "sqs", "SendMessage", {
      QueueUrl: queueUrl,
      MessageBody: body,
      ...(opts.groupId ? { MessageGroupId: opts.groupId } : {}),
      ...(opts.deduplicationId ? { MessageDeduplicationId: opts.deduplicationId } : {}),
    });
    return out.MessageId;
  }

  /** Receives and deletes everything in the queue; returns what it held. */
  async drain(queueUrl: string): Promise<SqsMessage[]> {
    const all: SqsMessage[] = [];
    for (;;) {
      const batch = await this.receive(queueUrl, { max: 10 });
      if (!batch.length) return all;
      for (const m of batch) await this.delete(queueUrl, m.ReceiptHandle);
      all.push(...batch);
    }
  }
}
