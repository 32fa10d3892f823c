/**
 * Turns whatever invoked the function into a typed list of objects to process. S3 events reach a function
 * by many routes: S3 -> Lambda, S3 -> SQS -> Lambda, S3 -> SNS -> Lambda, S3 -> SNS -> SQS -> Lambda (with
 * or without raw message delivery), S3 -> EventBridge -> Lambda, S3 -> EventBridge -> SQS -> Lambda, and
 * radosgw's HTTP push (the S3 record shape with `eventSource: "ceph:s3"` and raw keys). One unwrapping takes
 * the envelopes off, whatever their order.
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
  /** As S3 names it ("ObjectCreated:Put", "ObjectTagging:Put", …); absent for objects found by listing (backfill). */
  eventName?: string;
}

/** What an event asks of the function, from its name. */
export type EventAction =
  /** A new file (or an object found by listing): upload it. */
  | "create"
  /** An archived object is readable again: upload it if it was refused as archived. */
  | "restore"
  /** The object's tags changed: decide it again (tags set after the file, or a new destination). */
  | "retag"
  /** Anything else (deletions, ACLs, lifecycle, tag removals): nothing to do. */
  | "none";

export function actionOf(ref: ObjectRef): EventAction {
  const name = ref.eventName;
  if (name === undefined || name.startsWith("ObjectCreated:")) return "create";
  if (name === "ObjectRestore:Completed") return "restore";
  if (name === "ObjectTagging:Put") return "retag";
  return "none";
}

export interface SqsMessageObjects {
  messageId: string;
  objects: ObjectRef[];
  /** Set when the body is not an S3 notification: the message is reported failed so it reaches the DLQ. */
  malformed?: string;
}

export type ParsedEvent =
  | { source: "s3" | "sns" | "eventbridge"; objects: ObjectRef[] }
  | { source: "sqs"; messages: SqsMessageObjects[] }
  | { source: "s3-test-event" };

/** An S3 notification with its envelopes taken off: the objects it announces, or S3's test event. */
type Notification = { test: true } | { test: false; objects: ObjectRef[] };

const EXPECTED =
  "expected an S3 notification {Records:[{eventSource:'aws:s3',s3:{…}}]}, an EventBridge event from source 'aws.s3', " +
  "an s3:TestEvent, or one of these inside SQS messages or SNS notifications";

export function parseEvent(event: unknown): ParsedEvent {
  if (!isObject(event)) throw new MalformedEventError(`${EXPECTED}; got ${describe(event)}`);
  const records = event.Records;
  if (Array.isArray(records) && records.length > 0) {
    if (records.every((r) => isObject(r) && r.eventSource === "aws:sqs")) {
      return { source: "sqs", messages: records.map(sqsMessage) };
    }
    if (records.every((r) => isObject(r) && r.EventSource === "aws:sns")) {
      return merged(
        "sns",
        records.map((r, i) => unwrap(r.Sns?.Message, `Records[${i}].Sns.Message`)),
      );
    }
  }
  return merged(event.source === "aws.s3" ? "eventbridge" : "s3", [unwrap(event, "the event")]);
}

function merged(source: "s3" | "sns" | "eventbridge", notifications: Notification[]): ParsedEvent {
  if (notifications.every((n) => n.test)) return { source: "s3-test-event" };
  return { source, objects: notifications.flatMap((n) => (n.test ? [] : n.objects)) };
}

function sqsMessage(record: Record<string, unknown>): SqsMessageObjects {
  const messageId = String(record.messageId ?? "");
  if (!messageId) throw new MalformedEventError("an SQS record without messageId");
  try {
    const notification = unwrap(record.body, "the message body");
    return { messageId, objects: notification.test ? [] : notification.objects };
  } catch (err) {
    return { messageId, objects: [], malformed: `SQS message ${messageId}: ${(err as Error).message}` };
  }
}

/**
 * Takes envelopes off until an S3 notification, an EventBridge event or a test event is left: a JSON string
 * (an SQS body, an SNS message), an SNS notification (an SQS body fed by SNS without raw delivery).
 */
function unwrap(value: unknown, where: string, depth = 0): Notification {
  if (depth > 3) throw new MalformedEventError(`${where} is wrapped deeper than any AWS route wraps an S3 event`);
  if (typeof value === "string") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      throw new MalformedEventError(`${where} is not JSON (${(err as Error).message})`);
    }
    return unwrap(parsed, where, depth + 1);
  }
  if (!isObject(value)) throw new MalformedEventError(`${EXPECTED}; ${where} is ${describe(value)}`);
  if (value.Event === "s3:TestEvent") return { test: true };
  if (value.Type === "Notification" && "Message" in value) return unwrap(value.Message, `${where}.Message`, depth + 1);
  if (value.source === "aws.s3") return { test: false, objects: [eventBridgeObject(value)] };
  if (Array.isArray(value.Records)) return { test: false, objects: s3Records(value.Records) };
  throw new MalformedEventError(`${EXPECTED}; ${where} is ${describe(value)}`);
}

function s3Records(records: unknown[]): ObjectRef[] {
  return records.map((record, i) => {
    const where = `Records[${i}]`;
    if (!isObject(record)) throw new MalformedEventError(`${where} is ${describe(record)}`);
    const source = record.eventSource;
    if (source !== "aws:s3" && source !== "ceph:s3") {
      throw new MalformedEventError(`${where}.eventSource must be "aws:s3" or "ceph:s3", got ${describe(source)}`);
    }
    const major = String(record.eventVersion ?? "").split(".")[0];
    if (major !== "2") {
      throw new MalformedEventError(`${where}.eventVersion must be 2.x, got ${describe(record.eventVersion)}`);
    }
    const s3 = record.s3;
    if (!isObject(s3) || !isObject(s3.bucket) || !isObject(s3.object)) {
      throw new MalformedEventError(`${where}.s3 must hold bucket and object`);
    }
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

/** EventBridge names what happened in its own words; the S3 notification names are what the pipeline knows. */
const EVENTBRIDGE_TYPES: Record<string, string> = {
  "Object Deleted": "ObjectRemoved:Delete",
  "Object Restore Initiated": "ObjectRestore:Post",
  "Object Restore Completed": "ObjectRestore:Completed",
  "Object Restore Expired": "ObjectRestore:Delete",
  "Object Tags Added": "ObjectTagging:Put",
  "Object Tags Deleted": "ObjectTagging:Delete",
  "Object ACL Updated": "ObjectAcl:Put",
  "Object Storage Class Changed": "LifecycleTransition",
  "Object Access Tier Changed": "IntelligentTiering",
};
/** And says why an object was created in API terms. */
const EVENTBRIDGE_REASONS: Record<string, string> = {
  PutObject: "ObjectCreated:Put",
  "POST Object": "ObjectCreated:Post",
  CopyObject: "ObjectCreated:Copy",
  CompleteMultipartUpload: "ObjectCreated:CompleteMultipartUpload",
};

function eventBridgeObject(event: Record<string, unknown>): ObjectRef {
  const type = event["detail-type"];
  const detail = event.detail;
  if (typeof type !== "string") throw new MalformedEventError(`an EventBridge event from aws.s3 without detail-type`);
  if (!isObject(detail) || !isObject(detail.bucket) || !isObject(detail.object)) {
    throw new MalformedEventError("EventBridge detail must hold bucket and object");
  }
  const reason = String(detail.reason ?? "");
  const eventName =
    type === "Object Created"
      ? (EVENTBRIDGE_REASONS[reason] ?? `ObjectCreated:${reason}`)
      : (EVENTBRIDGE_TYPES[type] ?? `EventBridge:${type}`);
  const object = detail.object;
  return ref("detail", {
    bucket: detail.bucket.name,
    key: decodeS3Key(object.key, "detail"),
    versionId: object["version-id"],
    eTag: object.etag,
    size: object.size,
    eventName,
  });
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
