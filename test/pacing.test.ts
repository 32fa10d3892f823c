/** Lark's rate rules and the retry budget, on a virtual clock so the figures are exact. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TransientError } from "../lib/errors";
import { mediaPace } from "../lib/lark/limits";
import { Pacer } from "../lib/lark/pacer";
import { withRetries } from "../lib/retry";

function clock() {
  let now = 1_000_000;
  return {
    now: () => now,
    sleep: async (ms: number) => void (now += ms),
    advance: (ms: number) => void (now += ms),
  };
}

describe("pacer", () => {
  test("one call at a time, at most 5 per second counted from each reply", async () => {
    const c = clock();
    const pacer = new Pacer({ perWindow: 5, windowMs: 1000, now: c.now, sleep: c.sleep });
    const starts: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const call = () =>
      pacer.run(async () => {
        starts.push(c.now());
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await Promise.resolve();
        c.advance(50); // each call takes 50 ms
        inFlight--;
      });
    await Promise.all(Array.from({ length: 11 }, call));
    assert.equal(maxInFlight, 1);
    const t0 = starts[0]!;
    // 5 back to back; the 6th waits for a window after the 1st reply (t0+50), the 11th after the 6th's.
    assert.deepEqual(
      starts.map((t) => t - t0),
      [0, 50, 100, 150, 200, 1050, 1100, 1150, 1200, 1250, 2100],
    );
  });

  test("a turn that would come after the deadline fails at once instead of sleeping past it", async () => {
    const c = clock();
    const pacer = new Pacer({ perWindow: 1, windowMs: 1000, now: c.now, sleep: c.sleep });
    await pacer.run(async () => undefined);
    const before = c.now();
    await assert.rejects(
      pacer.run(async () => "late", before + 500),
      TransientError,
    );
    assert.equal(c.now(), before, "no sleep");
    assert.equal(await pacer.run(async () => "on time", before + 2000), "on time");
  });

  test("Lark's reset pauses every call, but never for more than a minute", async () => {
    const c = clock();
    const pacer = new Pacer({ perWindow: 5, windowMs: 1000, now: c.now, sleep: c.sleep });
    pacer.pauseFor(3_600_000);
    const start = c.now();
    await pacer.run(async () => undefined);
    assert.equal(c.now() - start, 60_000);
  });

  test("rates: a lower rate keeps the window and shrinks the burst; a time scale shrinks the window", () => {
    assert.deepEqual(mediaPace(5), { perWindow: 5, windowMs: 1000 });
    assert.deepEqual(mediaPace(2), { perWindow: 2, windowMs: 1000 });
    assert.deepEqual(mediaPace(5, 0.1), { perWindow: 5, windowMs: 100 });
  });
});

describe("retries", () => {
  test("capped exponential backoff with jitter, at least what the server asked", async () => {
    const delays: number[] = [];
    let attempts = 0;
    const result = await withRetries(
      async () => {
        if (++attempts < 4) throw new TransientError("busy", { retryAfterMs: attempts === 2 ? 3000 : undefined });
        return "done";
      },
      { maxAttempts: 5, deadline: Date.now() + 60_000, random: () => 1, sleep: async (ms) => void delays.push(ms) },
    );
    assert.equal(result, "done");
    assert.deepEqual(delays, [200, 3000, 800]);
  });

  test("permanent errors are not retried; transient ones stop at maxAttempts or before the deadline", async () => {
    let calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw new Error("permanent");
        },
        { maxAttempts: 5, deadline: Date.now() + 60_000 },
      ),
      /permanent/,
    );
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw new TransientError("busy");
        },
        { maxAttempts: 3, deadline: Date.now() + 60_000, sleep: async () => undefined },
      ),
      TransientError,
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw new TransientError("busy", { retryAfterMs: 10_000 });
        },
        { maxAttempts: 5, deadline: Date.now() + 5_000, sleep: async () => undefined },
      ),
      TransientError,
    );
    assert.equal(calls, 1, "a wait past the deadline is not taken");
  });
});
