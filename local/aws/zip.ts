/** A zip reader (central directory; stored or deflated entries): enough for a Lambda deployment package. */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import { inflateRawSync } from "node:zlib";

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeader: number;
}

export function readZip(zip: Buffer): ZipEntry[] {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, "no end of central directory: not a zip");
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, "bad central directory entry");
    const nameLength = zip.readUInt16LE(at + 28);
    entries.push({
      method: zip.readUInt16LE(at + 10),
      compressedSize: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      localHeader: zip.readUInt32LE(at + 42),
      name: zip.toString("utf8", at + 46, at + 46 + nameLength),
    });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

export function extract(zip: Buffer, e: ZipEntry): Buffer {
  const at = e.localHeader;
  assert.equal(zip.readUInt32LE(at), 0x04034b50, "bad local file header");
  const start = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  const data = zip.subarray(start, start + e.compressedSize);
  const bytes =
    e.method === 8
      ? inflateRawSync(data)
      : e.method === 0
        ? Buffer.from(data)
        : assert.fail(`compression method ${e.method}`);
  assert.equal(bytes.length, e.size);
  return bytes;
}

/** Writes every file of the zip under `dir` (as Lambda unpacks a package into /var/task). */
export async function unzip(zip: Buffer, dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const e of readZip(zip)) {
    if (e.name.endsWith("/")) continue;
    const path = normalize(e.name);
    assert.ok(!path.startsWith("..") && !path.startsWith("/"), `zip entry outside the package: ${e.name}`);
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), extract(zip, e));
    files.push(path);
  }
  return files;
}
