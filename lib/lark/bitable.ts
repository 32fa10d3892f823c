/**
 * bitable/v1 (Base): a record whose attachment field holds an uploaded file. The record is created empty, the
 * file uploaded into the base (parent_type bitable_file / bitable_image, parent_node = the app_token), then set
 * in the record's attachment field. Every write is paced by the per-app rule and the one-write-per-table rule.
 */
import { createHash } from "node:crypto";
import { RejectionError, TransientError } from "../errors";
import type { RetryOptions } from "../retry";
import { type CallCounter, jsonRequest, type LarkClient } from "./client";
import type { LarkRequest } from "./http";
import type { LarkLimits } from "./limits";

/** A uuid v4, the only client_token Lark's record writes take (anything else is 1254037). */
export type UuidV4 = string & { readonly format: "uuid-v4" };

/** Lark's "RecordIdNotFound". */
const RECORD_NOT_FOUND = 1254043;

/**
 * A uuid v4 made from `seed`: the same seed gives the same uuid, so a retry of the same work sends the same
 * client_token. The bits are a hash's, with the version and variant set as RFC 9562 requires.
 */
export function uuidV4From(seed: string): UuidV4 {
  const bytes = createHash("sha256").update(seed).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` as UuidV4;
}

export class LarkBitable {
  constructor(
    private readonly client: LarkClient,
    private readonly limits: LarkLimits,
  ) {}

  /** Creates an empty record. The same `clientToken` again answers the record the first call made. */
  async createRecord(
    appToken: string,
    tableId: string,
    clientToken: UuidV4,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<{ recordId: string }> {
    const request = jsonRequest("POST", recordsPath(appToken, tableId), {
      query: { client_token: clientToken },
      body: { fields: {} },
    });
    const body = await this.write(appToken, tableId, request, retry, counter);
    const recordId = (body.data?.record as { record_id?: unknown } | undefined)?.record_id;
    if (typeof recordId !== "string" || !recordId) {
      throw new TransientError(`create record: Lark answered success without a record_id`);
    }
    return { recordId };
  }

  /** Sets the attachment field `fieldName` of the record to the one file `fileToken` (uploaded into this base). */
  async setAttachment(
    appToken: string,
    tableId: string,
    recordId: string,
    fieldName: string,
    fileToken: string,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<void> {
    const request = jsonRequest("PUT", recordPath(appToken, tableId, recordId), {
      body: { fields: { [fieldName]: [{ file_token: fileToken }] } },
    });
    await this.write(appToken, tableId, request, retry, counter);
  }

  /** Deletes the record; one already gone is not an error. */
  async deleteRecord(
    appToken: string,
    tableId: string,
    recordId: string,
    retry: RetryOptions,
    counter?: CallCounter,
  ): Promise<void> {
    try {
      await this.write(
        appToken,
        tableId,
        jsonRequest("DELETE", recordPath(appToken, tableId, recordId)),
        retry,
        counter,
      );
    } catch (err) {
      if (!(err instanceof RejectionError && err.larkCode === RECORD_NOT_FOUND)) throw err;
    }
  }

  private write(appToken: string, tableId: string, request: LarkRequest, retry: RetryOptions, counter?: CallCounter) {
    const pacers = [this.limits.tableWrite(appToken, tableId), this.limits.recordWrite()];
    return this.client.call(request.path, () => request, { pacers, retry, counter });
  }
}

const recordsPath = (appToken: string, tableId: string) =>
  `/open-apis/bitable/v1/apps/${encodeURIComponent(appToken)}/tables/${encodeURIComponent(tableId)}/records`;
const recordPath = (appToken: string, tableId: string, recordId: string) =>
  `${recordsPath(appToken, tableId)}/${encodeURIComponent(recordId)}`;
