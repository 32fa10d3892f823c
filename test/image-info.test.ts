// What the function learns of an image before placing it: whether it is one (Content-Type, else the name), and
// its size as shown, read from the head of real files made by real encoders (test/fixtures/images/README.md).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { IMAGE_HEAD_BYTES, imageFormat, imageSize } from "../lib/image-info";

const fixture = (name: string) => readFileSync(new URL(`fixtures/images/${name}`, import.meta.url));

const SHOWN: Record<string, [number, number]> = {
  "one-pixel.png": [1, 1],
  "wide-3000x17.png": [3000, 17],
  "progressive.jpg": [640, 480],
  "rotated.jpg": [300, 400],
  "wide-3000x17.jpg": [3000, 17],
  "small.gif": [37, 23],
  "lossy.webp": [301, 199],
  "lossless.webp": [301, 199],
  "extended.webp": [301, 199],
  "bottom-up.bmp": [65, 33],
  "top-down.bmp": [65, 33],
  "os2.bmp": [65, 33],
};

describe("imageFormat", () => {
  test("an image Content-Type decides, whatever its case and parameters, and whatever the name", () => {
    assert.equal(imageFormat("image/png", "x.txt"), "png");
    assert.equal(imageFormat("IMAGE/JPEG; charset=binary", "photo"), "jpeg");
    assert.equal(imageFormat(" image/gif ", "a.png"), "gif");
    assert.equal(imageFormat("image/webp;q=1", ""), "webp");
    assert.equal(imageFormat("Image/Bmp", "b"), "bmp");
  });

  test("any other specific Content-Type is not an image, even with an image's name", () => {
    assert.equal(imageFormat("text/plain", "a.png"), undefined);
    assert.equal(imageFormat("image/tiff", "a.tif"), undefined);
    assert.equal(imageFormat("image/svg+xml", "a.svg"), undefined);
    assert.equal(imageFormat("application/pdf", "a.jpg"), undefined);
  });

  test("a generic or absent Content-Type lets the extension decide, in any case", () => {
    for (const type of [
      undefined,
      "",
      "binary/octet-stream",
      "application/octet-stream",
      "Application/Octet-Stream; x=y",
    ]) {
      assert.equal(imageFormat(type, "holiday.PNG"), "png", String(type));
      assert.equal(imageFormat(type, "a.b.Jpg"), "jpeg");
      assert.equal(imageFormat(type, "x.jpeg"), "jpeg");
      assert.equal(imageFormat(type, "x.GIF"), "gif");
      assert.equal(imageFormat(type, "x.webp"), "webp");
      assert.equal(imageFormat(type, "x.bmp"), "bmp");
      assert.equal(imageFormat(type, "x.tiff"), undefined);
      assert.equal(imageFormat(type, "png"), undefined, "a name that is only the extension's letters");
      assert.equal(imageFormat(type, "x.png.txt"), undefined);
      assert.equal(imageFormat(type, "x."), undefined);
    }
  });
});

describe("imageSize", () => {
  test("every fixture measures as shown, whole or in socket-sized parts", () => {
    for (const [name, [width, height]] of Object.entries(SHOWN)) {
      const bytes = fixture(name);
      assert.deepEqual(imageSize(bytes), { width, height }, name);
      const parts = [];
      for (let at = 0; at < bytes.length; at += 7) parts.push(bytes.subarray(at, at + 7));
      assert.deepEqual(imageSize(parts), { width, height }, `${name} in 7-byte parts`);
      assert.deepEqual(imageSize([bytes]), { width, height }, `${name} as one part`);
    }
  });

  test("the progressive JPEG: its EXIF thumbnail's frame header is skipped, the image's own is read", () => {
    const bytes = fixture("progressive.jpg");
    const sof2 = bytes.indexOf(Buffer.from([0xff, 0xc2]));
    assert.ok(sof2 > 10_000, "the image's frame header sits past a large EXIF segment");
    assert.ok(bytes.indexOf(Buffer.from([0xff, 0xc0])) < sof2, "the thumbnail's comes first");
    assert.equal(imageSize(bytes.subarray(0, sof2 + 8)), undefined, "cut inside the frame header");
    assert.deepEqual(imageSize(bytes.subarray(0, sof2 + 9)), { width: 640, height: 480 });
  });

  test("a JPEG is scanned for IMAGE_HEAD_BYTES at most: a frame header past them is not looked for", () => {
    const jpeg = fixture("progressive.jpg");
    /** The JPEG with `count` APP2 segments of 64 KiB (which decoders skip) put in front of its own segments. */
    const padded = (count: number) => {
      const app2 = Buffer.alloc(4 + 65533);
      app2.writeUInt16BE(0xffe2, 0);
      app2.writeUInt16BE(65535, 2);
      return Buffer.concat([jpeg.subarray(0, 2), ...Array(count).fill(app2), jpeg.subarray(2)]);
    };
    const within = Math.floor((IMAGE_HEAD_BYTES - jpeg.length) / 65537);
    assert.deepEqual(imageSize(padded(within)), { width: 640, height: 480 });
    assert.deepEqual(imageSize([padded(within)]), { width: 640, height: 480 });
    const beyond = padded(within + 1);
    assert.equal(imageSize(beyond), undefined);
    assert.equal(imageSize([beyond.subarray(0, 1000), beyond.subarray(1000)]), undefined);
  });

  test("any cut before the size gives undefined, never a wrong size or a throw", () => {
    for (const [name, [width, height]] of Object.entries(SHOWN)) {
      const bytes = fixture(name);
      let measuredFrom = -1;
      for (let length = 0; length <= Math.min(bytes.length, 0x3300); length++) {
        const size = imageSize(bytes.subarray(0, length));
        if (size === undefined) continue;
        assert.deepEqual(size, { width, height }, `${name} cut at ${length}`);
        if (measuredFrom < 0) measuredFrom = length;
      }
      assert.ok(measuredFrom > 0, `${name} measures from some length on`);
    }
  });

  test("junk: other formats, random bytes, broken headers and impossible sizes give undefined", () => {
    const junk: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from("%PDF-1.7\n"),
      Buffer.from("just text, no image"),
      Buffer.alloc(1024),
      Buffer.alloc(64, 0xff),
      Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01, 0x02]), // JPEG start, then no marker
      Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01]), // a segment length under 2
      Buffer.from([0xff, 0xd8, 0xff, 0xd9, 0x00, 0x00]), // the end before any frame
      Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x04, 0x00, 0x00]), // scan data before any frame
      Buffer.concat([fixture("one-pixel.png").subarray(0, 16), Buffer.alloc(8)]), // a PNG of 0×0
      Buffer.concat([fixture("one-pixel.png").subarray(0, 12), Buffer.from("IDAT"), Buffer.alloc(8, 1)]),
      Buffer.from("RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), // no key frame start code
      Buffer.from("RIFF\0\0\0\0WEBPVP8L\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), // no lossless signature
      Buffer.from("RIFF\0\0\0\0WEBPJUNK\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
      Buffer.from("RIFF\0\0\0\0AVI LIST\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), // a RIFF that is not WebP
      Buffer.from("GIF87a"),
      Buffer.from("BM\0\0\0\0\0\0\0\0\0\0\0\0\x28\0\0\0\x00\x00\x00\x80\x05\0\0\0"), // negative width
    ];
    for (const bytes of junk) assert.equal(imageSize(bytes), undefined, bytes.toString("hex"));
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(i % 97);
      const size = imageSize(bytes);
      if (size) assert.ok(size.width > 0 && size.height > 0);
    }
  });

  test("random bytes after a real signature never throw", () => {
    for (const name of Object.keys(SHOWN)) {
      const head = fixture(name).subarray(0, 4);
      for (let i = 0; i < 500; i++) {
        const bytes = Buffer.concat([head, randomBytes(i % 300)]);
        const size = imageSize(bytes);
        if (size) assert.ok(Number.isInteger(size.width) && size.width > 0 && size.height > 0, name);
      }
    }
  });
});
