/**
 * Whether a file is an image Lark can show, and its size in pixels read from the first bytes of the file (no
 * decoding, no dependency). Never throws: a file that does not read as what it claims is simply not measured.
 */

export type ImageFormat = "png" | "jpeg" | "gif" | "webp" | "bmp";

export interface ImageSize {
  width: number;
  height: number;
}

const BY_CONTENT_TYPE: Record<string, ImageFormat> = {
  "image/png": "png",
  "image/jpeg": "jpeg",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/bmp": "bmp",
};
/** Content-Types that say nothing about the bytes: the file name's extension decides. */
const GENERIC_TYPES = new Set(["", "binary/octet-stream", "application/octet-stream"]);
const BY_EXTENSION: Record<string, ImageFormat> = {
  png: "png",
  jpg: "jpeg",
  jpeg: "jpeg",
  gif: "gif",
  webp: "webp",
  bmp: "bmp",
};

/**
 * The image format a file declares: its Content-Type (parameters and case ignored) when it names one, else, when
 * the Content-Type is generic or absent, its name's extension. Any other Content-Type is not an image.
 */
export function imageFormat(contentType: string | undefined, fileName: string): ImageFormat | undefined {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (!GENERIC_TYPES.has(type)) return BY_CONTENT_TYPE[type];
  const dot = fileName.lastIndexOf(".");
  return dot < 0 ? undefined : BY_EXTENSION[fileName.slice(dot + 1).toLowerCase()];
}

/** A JPEG's size sits after its metadata (EXIF, ICC profile, thumbnails…): this much of the head is read, no more. */
export const IMAGE_HEAD_BYTES = 512 * 1024;

/**
 * The size of the image whose first bytes are `head` (PNG, JPEG, GIF, WebP, BMP, told apart by their signature),
 * as it is shown: a JPEG whose EXIF orientation turns it a quarter has its width and height swapped. Undefined
 * when the bytes are not one of these formats, are cut before the size, or give no size.
 */
export function imageSize(head: Buffer[] | Buffer): ImageSize | undefined {
  const parts = Buffer.isBuffer(head) ? [head] : head;
  // One part is read in place; several are joined, up to what a JPEG may need.
  const bytes = (parts.length === 1 ? parts[0]! : Buffer.concat(parts, headLength(parts))).subarray(
    0,
    IMAGE_HEAD_BYTES,
  );
  for (const read of [png, jpeg, gif, webp, bmp]) {
    const size = read(bytes);
    if (size !== SKIP) return size && size.width > 0 && size.height > 0 ? size : undefined;
  }
  return undefined;
}

/** A reader's answer when the signature is not its format's. */
const SKIP = Symbol("not this format");
type Reader = (b: Buffer) => ImageSize | undefined | typeof SKIP;

function headLength(parts: Buffer[]): number {
  return Math.min(
    IMAGE_HEAD_BYTES,
    parts.reduce((n, part) => n + part.length, 0),
  );
}

const startsWith = (b: Buffer, signature: string, at = 0) =>
  b.length >= at + signature.length && b.toString("latin1", at, at + signature.length) === signature;

/** PNG: the IHDR chunk comes first, width and height big-endian. */
const png: Reader = (b) => {
  if (!startsWith(b, "\x89PNG\r\n\x1a\n")) return SKIP;
  if (b.length < 24 || !startsWith(b, "IHDR", 12)) return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
};

/** GIF: the logical screen's size, little-endian. */
const gif: Reader = (b) => {
  if (!startsWith(b, "GIF87a") && !startsWith(b, "GIF89a")) return SKIP;
  if (b.length < 10) return undefined;
  return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
};

/** BMP: the DIB header; an OS/2 core header has 16-bit sides, the others 32-bit, a negative height is top-down. */
const bmp: Reader = (b) => {
  if (!startsWith(b, "BM")) return SKIP;
  if (b.length < 18) return undefined;
  const core = b.readUInt32LE(14) === 12;
  if (b.length < (core ? 22 : 26)) return undefined;
  if (core) return { width: b.readUInt16LE(18), height: b.readUInt16LE(20) };
  return { width: b.readInt32LE(18), height: Math.abs(b.readInt32LE(22)) };
};

/** WebP: a RIFF container whose first chunk is the lossy (VP8), lossless (VP8L) or extended (VP8X) header. */
const webp: Reader = (b) => {
  if (!startsWith(b, "RIFF") || !startsWith(b, "WEBP", 8)) return SKIP;
  if (b.length < 30) return undefined;
  const chunk = b.toString("latin1", 12, 16);
  if (chunk === "VP8 ") {
    // A key frame: 3 bytes of frame tag, the start code 9d 01 2a, then 14-bit sides (2 bits of scaling above).
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
    return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === "VP8L") {
    // The signature byte 0x2f, then width − 1 and height − 1 in 14 bits each, least significant first.
    if (b[20] !== 0x2f) return undefined;
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === "VP8X") return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  return undefined;
};

/** JPEG start-of-frame markers (SOF0–SOF15 but DHT C4, JPG C8 and DAC CC): they carry the image's size. */
const isStartOfFrame = (marker: number) =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
/** Markers that stand alone, without a length: TEM, RST0–RST7, SOI. */
const standsAlone = (marker: number) => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8);

/** JPEG: segment after segment until the start of frame; the EXIF segment, if any, says how it is turned. */
const jpeg: Reader = (b) => {
  if (b.length < 3 || b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff) return SKIP;
  let quarterTurn = false;
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (standsAlone(marker)) {
      at += 2;
      continue;
    }
    // Scan data or the end before any frame header: no size.
    if (marker === 0xda || marker === 0xd9) return undefined;
    const length = b.readUInt16BE(at + 2);
    if (length < 2) return undefined;
    const segment = b.subarray(at + 4, at + 2 + length);
    if (isStartOfFrame(marker)) {
      if (segment.length < 5) return undefined;
      const size = { width: segment.readUInt16BE(3), height: segment.readUInt16BE(1) };
      return quarterTurn ? { width: size.height, height: size.width } : size;
    }
    if (marker === 0xe1 && startsWith(segment, "Exif\0\0")) quarterTurn = turnsAQuarter(segment.subarray(6));
    at += 2 + length;
  }
  return undefined;
};

/** EXIF orientations 5 to 8 show the image turned a quarter (width and height swap). */
function turnsAQuarter(tiff: Buffer): boolean {
  const orientation = exifOrientation(tiff);
  return orientation !== undefined && orientation >= 5 && orientation <= 8;
}

/** The Orientation tag (0x0112) of IFD0 in a TIFF structure, either byte order. */
function exifOrientation(tiff: Buffer): number | undefined {
  if (tiff.length < 8) return undefined;
  const little = startsWith(tiff, "II");
  if (!little && !startsWith(tiff, "MM")) return undefined;
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return undefined;
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return undefined;
    if (u16(entry) === 0x0112) return u16(entry + 8);
  }
  return undefined;
}
