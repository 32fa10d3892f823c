/** The events that invoke the function, read into object references: keys decoded the way each source encodes them. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseEvent } from "../lib/event";
import { decodeS3Key, encodeS3Key } from "../lib/s3-keys";

describe("event parsing", () => {
  test("AWS keys are form-decoded once; radosgw keys are taken raw", () => {
    const aws = parseEvent({
      Records: [
        {
          eventSource: "aws:s3",
          eventVersion: "2.1",
          eventName: "ObjectCreated:Put",
          s3: {
            bucket: { name: "b" },
            object: { key: "a+b%2Bc%25d%28e%29", size: 3, eTag: "abc", versionId: "null", sequencer: "01" },
          },
        },
      ],
    });
    assert.deepEqual(aws, {
      source: "s3",
      objects: [{ bucket: "b", key: "a b+c%d(e)", eTag: "abc", size: 3, eventName: "ObjectCreated:Put" }],
    });
    const ceph = parseEvent({
      Records: [
        {
          eventSource: "ceph:s3",
          eventVersion: "2.2",
          eventName: "ObjectCreated:Put",
          s3: { bucket: { name: "b" }, object: { key: "a+b %2B(1).txt", size: 3, eTag: "abc", versionId: "v1" } },
        },
      ],
    });
    assert.equal(ceph.source === "s3" && ceph.objects[0]!.key, "a+b %2B(1).txt");
    assert.equal(ceph.source === "s3" && ceph.objects[0]!.versionId, "v1");
  });

  test("encodeS3Key is the inverse of decodeS3Key for awkward keys", () => {
    for (const key of ["a b+c", "100%", "报告 (1).pdf", "x/y/z ~!*'().txt", "%2B"])
      assert.equal(decodeS3Key(encodeS3Key(key)), key);
    assert.equal(encodeS3Key("a b+c(1)/d"), "a+b%2Bc%281%29/d");
  });

  test("an SQS event whose body is a test event yields no objects", () => {
    const parsed = parseEvent({
      Records: [
        {
          eventSource: "aws:sqs",
          messageId: "m1",
          body: JSON.stringify({ Event: "s3:TestEvent", Service: "Amazon S3" }),
        },
      ],
    });
    assert.deepEqual(parsed, { source: "sqs", messages: [{ messageId: "m1", objects: [] }] });
  });
});
