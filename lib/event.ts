/**
 * Turns whatever invoked the function into a typed list of objects to process. Three delivery paths
 * reach us (S3 -> Lambda, S3 -> SQS -> Lambda, S3 -> EventBridge -> Lambda) plus radosgw's HTTP push,
 * which uses the S3 record shape with `eventSource: "ceph:s3"` and raw keys.
 */
import { MalformedEventError } from "./errors";
import { decodeS3Key } from "./s3-keys";

/** One object version an event announced. */
export interface ObjectRef {
  bucket: string;
  /** The real key, decoded. */
  key: string;
  versionId?: string;
  /** Without quotes. */
  eTag?: string;
  size?: number;
  /** As S3 names it ("ObjectCreated:Put", "ObjectCreated:Copy", …); absent for objects found by listing (backfill). */
  eventName?: string;
}

export interface SqsMessageObjects {
  messageId: string;
  objects: ObjectRef[];
  /** Set when the body is not an S3 notification: the message is reported failed so it reaches the DLQ. */
  malformed?: string;
}

export type ParsedEvent =
  | { source: "s3"; objects: ObjectRef[] }
  | { source: "eventbridge"; objects: ObjectRef[] }
  | { source: "sqs"; messages: SqsMessageObjects[] }
  | { source: "s3-test-event" };

const EXPECTED =
  "expected an S3 notification {Records:[{eventSource:'aws:s3',s3:{…}}]}, an SQS event whose bodies are S3 notifications, " +
  "an EventBridge 'Object Created' event (source 'aws.s3') or an s3:TestEvent";

export function parseEvent(event: unknown): ParsedEvent {
  if (!isObject(event)) throw new MalformedEventError(`${EXPECTED}; got ${describe(event)}`);
  if (isTestEvent(event)) return { source: "s3-test-event" };
  if (event.source === "aws.s3") return { source: "eventbridge", objects: parseEventBridge(event) };
  const records = event.Records;
  if (!Array.isArray(records))
    throw new MalformedEventError(`${EXPECTED}; got an object with keys [${Object.keys(event).join(", ")}]`);
  if (records.length > 0 && records.every((r) => isObject(r) && r.eventSource === "aws:sqs")) {
    return { source: "sqs", messages: records.map(parseSqsRecord) };
  }
  return { source: "s3", objects: parseS3Records(records) };
}

function parseSqsRecord(record: Record<string, unknown>): SqsMessageObjects {
  const messageId = String(record.messageId ?? "");
  if (!messageId) throw new MalformedEventError("an SQS record without messageId");
  try {
    const body: unknown = JSON.parse(String(record.body));
    if (isObject(body) && isTestEvent(body)) return { messageId, objects: [] };
    if (!isObject(body) || !Array.isArray(body.Records))
      throw new MalformedEventError(`${EXPECTED}; the message body is ${describe(body)}`);
    return { messageId, objects: parseS3Records(body.Records) };
  } catch (err) {
    const reason = err instanceof SyntaxError ? `its body is not JSON (${err.message})` : (err as Error).message;
    return { messageId, objects: [], malformed: `SQS message ${messageId}: ${reason}` };
  }
}

function parseS3Records(records: unknown[]): ObjectRef[] {
  return records.map((record, i) => {
    const where = `Records[${i}]`;
    if (!isObject(record)) throw new MalformedEventError(`${where} is ${describe(record)}`);
    const source = record.eventSource;
    if (source !== "aws:s3" && source !== "ceph:s3") {
      throw new MalformedEventError(`${where}.eventSource must be "aws:s3" or "ceph:s3", got ${describe(source)}`);
    }
    const major = String(record.eventVersion ?? "").split(".")[0];
    if (major !== "2")
      throw new MalformedEventError(`${where}.eventVersion must be 2.x, got ${describe(record.eventVersion)}`);
    const s3 = record.s3;
    if (!isObject(s3) || !isObject(s3.bucket) || !isObject(s3.object))
      throw new MalformedEventError(`${where}.s3 must hold bucket and object`);
    const object = s3.object;
    return ref(where, {
      bucket: s3.bucket.name,
      // AWS URL-encodes keys in notifications (space as "+"); radosgw sends them raw.
      key: source === "aws:s3" ? decodeS3Key(object.key, where) : object.key,
      versionId: object.versionId,
      eTag: object.eTag,
      size: object.size,
      eventName: String(record.eventName ?? "").replace(/^s3:/, ""),
    });
  });
}

/** EventBridge says why an object was created in API terms; the S3 notification names are what the pipeline knows. */
const EVENTBRIDGE_REASONS: Record<string, string> = {
  PutObject: "ObjectCreated:Put",
  "POST Object": "ObjectCreated:Post",
  CopyObject: "ObjectCreated:Copy",
  CompleteMultipartUpload: "ObjectCreated:CompleteMultipartUpload",
};

function parseEventBridge(event: Record<string, unknown>): ObjectRef[] {
  const detail = event.detail;
  if (event["detail-type"] !== "Object Created") {
    throw new MalformedEventError(
      `an EventBridge event from aws.s3 must be "Object Created", got ${describe(event["detail-type"])}`,
    );
  }
  if (!isObject(detail) || !isObject(detail.bucket) || !isObject(detail.object))
    throw new MalformedEventError("EventBridge detail must hold bucket and object");
  const object = detail.object;
  return [
    ref("detail", {
      bucket: detail.bucket.name,
      key: decodeS3Key(object.key, "detail"),
      versionId: object["version-id"],
      eTag: object.etag,
      size: object.size,
      eventName: EVENTBRIDGE_REASONS[String(detail.reason)] ?? `ObjectCreated:${String(detail.reason ?? "")}`,
    }),
  ];
}

/** Validates the loose fields and normalises them into an ObjectRef. */
function ref(where: string, raw: Record<string, unknown>): ObjectRef {
  const { bucket, key, versionId, eTag, size, eventName } = raw;
  if (typeof bucket !== "string" || !bucket) throw new MalformedEventError(`${where}: bucket name missing`);
  if (typeof key !== "string" || !key) throw new MalformedEventError(`${where}: object key missing`);
  if (size !== undefined && (typeof size !== "number" || !Number.isInteger(size) || size < 0)) {
    throw new MalformedEventError(`${where}: object size must be a non-negative integer, got ${describe(size)}`);
  }
  const out: ObjectRef = { bucket, key };
  // S3 sends "null" as versionId for objects written while versioning was suspended.
  if (typeof versionId === "string" && versionId && versionId !== "null") out.versionId = versionId;
  if (typeof eTag === "string" && eTag) out.eTag = eTag.replace(/"/g, "");
  if (typeof size === "number") out.size = size;
  if (typeof eventName === "string" && eventName) out.eventName = eventName;
  return out;
}

function isTestEvent(value: Record<string, unknown>): boolean {
  return value.Event === "s3:TestEvent";
}

// biome-ignore lint/suspicious/noExplicitAny: event fields are checked one by one where they are read
function isObject(value: unknown): value is Record<string, any> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return `an object with keys [${Object.keys(value).slice(0, 8).join(", ")}]`;
  return `${typeof value} ${JSON.stringify(value).slice(0, 60)}`;
}
