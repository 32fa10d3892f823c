/** The block reader alone: blocks cut at exact edges from any chunking, no byte copied, Adler-32 per block. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import ADLER32 from "adler-32";
import { type Block, readBlocks } from "../lib/blocks";
import { ObjectChangedError, TransientError } from "../lib/errors";
import { bytes } from "./support/stack";

/** A source delivering `data` in chunks of the given sizes (cycled), as a socket would. */
function source(data: Buffer, chunkSizes: number[]) {
  let destroyed = false;
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = chunkSizes[i % chunkSizes.length]!;
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return {
    chunks,
    get destroyed() {
      return destroyed;
    },
    destroy: () => void (destroyed = true),
    async *[Symbol.asyncIterator]() {
      yield* chunks;
    },
  };
}

async function collect(gen: AsyncGenerator<Block>): Promise<Block[]> {
  const out: Block[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

const joined = (b: Block) => Buffer.concat(b.parts);

describe("readBlocks", () => {
  const data = bytes(10_000, 5);
  for (const chunking of [[1], [7], [1000], [4096, 3], [10_000], [2500], [2499, 1, 2500]]) {
    test(`blocks of 2500 from chunks of ${chunking.join("/")}: exact edges, the last block whole`, async () => {
      const src = source(data, chunking);
      const blocks = await collect(readBlocks(src, data.length, 2500, "test"));
      assert.deepEqual(
        blocks.map((b) => b.size),
        [2500, 2500, 2500, 2500],
      );
      blocks.forEach((b, i) => {
        const expected = data.subarray(i * 2500, (i + 1) * 2500);
        assert.deepEqual(joined(b), expected);
        assert.equal(b.adler32, ADLER32.buf(expected) >>> 0);
        assert.equal(
          b.parts.reduce((n, p) => n + p.length, 0),
          b.size,
        );
      });
      assert.equal(src.destroyed, false, "a fully read source is left to close itself");
    });
  }

  test("no byte is copied: every part is a view of the source's own memory", async () => {
    const src = source(data, [3000]);
    const blocks = await collect(readBlocks(src, data.length, 2500, "test"));
    for (const part of blocks.flatMap((b) => b.parts)) {
      assert.ok(
        src.chunks.some((c) => c.buffer === part.buffer && part.byteOffset >= c.byteOffset),
        "the part shares its memory with a source chunk",
      );
    }
  });

  test("a short last block, and a body smaller than one block", async () => {
    const small = bytes(3, 2);
    const one = await collect(readBlocks(source(small, [1]), 3, 2500, "test"));
    assert.deepEqual(
      one.map((b) => [b.size, b.adler32]),
      [[3, ADLER32.buf(small) >>> 0]],
    );
    const odd = await collect(readBlocks(source(data, [999]), data.length, 4096, "test"));
    assert.deepEqual(
      odd.map((b) => b.size),
      [4096, 4096, 1808],
    );
  });

  test("a body longer than announced is a changed object, and the source is released", async () => {
    const src = source(data, [4000]);
    await assert.rejects(collect(readBlocks(src, 9_999, 2500, "s3://b/k")), ObjectChangedError);
    assert.equal(src.destroyed, true);
  });

  test("a body that ends early is a transient fault naming how much is missing", async () => {
    await assert.rejects(
      collect(readBlocks(source(data.subarray(0, 9000), [1000]), 10_000, 2500, "s3://b/k")),
      (err: unknown) => err instanceof TransientError && /s3:\/\/b\/k ended 1000 bytes early/.test(err.message),
    );
  });

  test("a consumer that stops early releases the source", async () => {
    const src = source(data, [100]);
    for await (const _ of readBlocks(src, data.length, 2500, "test")) break;
    assert.equal(src.destroyed, true);
  });
});
