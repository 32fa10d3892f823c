/**
 * Every rate and concurrency rule of Lark's that the function must keep, declared once, with the pacer
 * that keeps each. One LarkLimits per process: every call under a rule, from any invocation, shares its pacer.
 *
 * - Media uploads (upload_all, upload_prepare / upload_part / upload_finish): 5 calls a second per app, and
 *   no two at once (Lark's upload_all reference: "不支持并发调用，且调用频率上限为 5 QPS").
 */
import { Pacer } from "./pacer";

/** Lark counts upload calls in one-second windows. */
const WINDOW_MS = 1000;
export const MEDIA_UPLOADS_PER_SECOND = 5;

export interface LimitsOptions {
  /** Upload calls per second, up to Lark's 5: lower it to leave room for other callers of the same app. */
  uploadsPerSecond?: number;
  /**
   * Shrinks every window by this factor, for an emulator that runs Lark's limits at the same scale (tests
   * and the benchmark). Never set in production: the configuration has no setting for it.
   */
  timeScale?: number;
}

export class LarkLimits {
  readonly media: Pacer;

  constructor(opts: LimitsOptions = {}) {
    this.media = new Pacer(mediaPace(opts.uploadsPerSecond ?? MEDIA_UPLOADS_PER_SECOND, opts.timeScale ?? 1));
  }
}

/** The media rule at a given rate and time scale: a lower rate keeps the window and shrinks the burst. */
export function mediaPace(uploadsPerSecond: number, timeScale = 1): { perWindow: number; windowMs: number } {
  return { perWindow: Math.min(MEDIA_UPLOADS_PER_SECOND, uploadsPerSecond), windowMs: WINDOW_MS * timeScale };
}
