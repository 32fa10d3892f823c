/**
 * How S3 writes an object key in its different places: form-encoded in notifications (a space as "+"),
 * URL-encoded per segment in a copy source or a path.
 */
import { MalformedEventError } from "./errors";

/** S3 notification keys are form-encoded: "+" is a space, a literal "+" is "%2B". */
export function decodeS3Key(key: unknown, where = "key"): string {
  if (typeof key !== "string") {
    throw new MalformedEventError(`${where}: object key must be a string, got ${typeof key}`);
  }
  try {
    return decodeURIComponent(key.replace(/\+/g, " "));
  } catch {
    throw new MalformedEventError(`${where}: object key ${JSON.stringify(key)} is not URL-encoded as S3 encodes keys`);
  }
}

/** The inverse of {@link decodeS3Key}: how S3 writes a key into a notification. */
export function encodeS3Key(key: string): string {
  return encodeURIComponent(key)
    .replace(/%20/g, "+")
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, "/");
}

/** A key as a URL path: each segment URL-encoded, the slashes kept (a raw "+" would read as a space). */
export function keyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

/** The x-amz-copy-source value for an object. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${keyPath(key)}`;
}
