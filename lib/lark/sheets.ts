/**
 * sheets/v3: a floating image that shows an uploaded image (parent_type sheet_image, parent_node = the
 * spreadsheet token) over a sheet, anchored at one cell. Every call is paced by the floating-image rule.
 */
import { createHash } from "node:crypto";
import { RejectionError, TransientError } from "../errors";
import type { RetryOptions } from "../retry";
import { type CallCounter, jsonRequest, type LarkClient } from "./client";
import type { LarkRequest } from "./http";
import type { LarkLimits } from "./limits";
import type { LarkBody } from "./reply";

/** A floating image id as Lark takes it from a client: 10 characters of [0-9a-zA-Z] (else 1310243). */
export type FloatImageId = string & { readonly format: "float-image-id" };

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ID_LENGTH = 10;
/** Lark's "Exist Float Image Id": the sheet already has an image with the id we chose. */
const ID_EXISTS = 1310244;
/** Lark refuses a side under 20 px (1310246). */
const MIN_SIDE = 20;

/**
 * A floating image id made from `seed`: the same seed gives the same id, so a retry of the same work finds the
 * image an earlier attempt made instead of making a second one.
 */
export function floatImageId(seed: string): FloatImageId {
  const hash = createHash("sha256").update(seed).digest();
  // 62 does not divide 256: the first few characters come a little more often, which an id does not mind.
  return Array.from(hash.subarray(0, ID_LENGTH), (byte) => ALPHABET[byte % ALPHABET.length]).join("") as FloatImageId;
}

export interface FloatImage {
  floatImageId: FloatImageId;
  /** The image, uploaded as sheet_image into this spreadsheet. */
  fileToken: string;
  /** The anchor cell, e.g. "C3": the image's top left corner. */
  cell: string;
  /** In px; Lark's default is the image's own size. A side under 20 px is scaled up, keeping the aspect ratio. */
  width?: number;
  height?: number;
}

export interface PlacedFloatImage {
  floatImageId: string;
  /** The image the sheet shows: ours, or, when an earlier attempt placed it, the one that attempt sent. */
  fileToken: string;
}

export class LarkSheets {
  constructor(
    private readonly client: LarkClient,
    private readonly limits: LarkLimits,
  ) {}

  /**
   * Places the image. When the sheet already has an image with this id (an earlier attempt of ours made it),
   * nothing new is made: the answer is that image, with the token it shows.
   */
  async placeFloatImage(
    spreadsheetToken: string,
    sheetId: string,
    image: FloatImage,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<PlacedFloatImage> {
    const path = floatImagesPath(spreadsheetToken, sheetId);
    const request = jsonRequest("POST", path, {
      body: {
        float_image_id: image.floatImageId,
        float_image_token: image.fileToken,
        range: `${sheetId}!${image.cell}:${image.cell}`,
        ...atLeastMinimum(image.width, image.height), // undefined sides leave the JSON
      },
    });
    try {
      return placed(await this.call(request, retry, counter));
    } catch (err) {
      if (!(err instanceof RejectionError && err.larkCode === ID_EXISTS)) throw err;
    }
    const existing = await this.call(
      jsonRequest("GET", `${path}/${encodeURIComponent(image.floatImageId)}`),
      retry,
      counter,
    );
    return placed(existing);
  }

  private call(request: LarkRequest, retry: RetryOptions, counter?: CallCounter): Promise<LarkBody> {
    return this.client.call(request.path, () => request, { pacer: this.limits.floatImages(), retry, counter });
  }
}

const floatImagesPath = (spreadsheetToken: string, sheetId: string) =>
  `/open-apis/sheets/v3/spreadsheets/${encodeURIComponent(spreadsheetToken)}/sheets/${encodeURIComponent(sheetId)}/float_images`;

/** The size to send: as given, scaled up when a side is under Lark's minimum; a side that is no size is left out. */
function atLeastMinimum(width?: number, height?: number): { width?: number; height?: number } {
  const size = (side?: number) => (side !== undefined && Number.isFinite(side) && side > 0 ? side : undefined);
  const [w, h] = [size(width), size(height)];
  const scale = Math.max(1, ...[w, h].map((side) => (side === undefined ? 1 : MIN_SIDE / side)));
  const scaled = (side?: number) => (side === undefined ? undefined : Math.max(MIN_SIDE, Math.round(side * scale)));
  return { width: scaled(w), height: scaled(h) };
}

function placed(body: LarkBody): PlacedFloatImage {
  const image = body.data?.float_image as { float_image_id?: unknown; float_image_token?: unknown } | undefined;
  const { float_image_id: id, float_image_token: token } = image ?? {};
  if (typeof id !== "string" || !id || typeof token !== "string" || !token) {
    throw new TransientError(`float image: Lark answered success without the image: ${JSON.stringify(image)}`);
  }
  return { floatImageId: id, fileToken: token };
}
