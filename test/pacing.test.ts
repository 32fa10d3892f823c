/** Lark's rate rules and the retry budget, on a virtual clock so the figures are exact. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { TransientError } from "../lib/errors";
import { mediaPace } from "../lib/lark/limits";
import { Pacer, PacerPerKey } from "../lib/lark/pacer";
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

  test("a rate without one-at-a-time: calls overlap, yet no N+1 of them could arrive within one window", async () => {
    const windowMs = 100;
    const pacer = new Pacer({ perWindow: 3, windowMs, oneAtATime: false, now: () => performance.now() });
    const calls: { start: number; end: number }[] = [];
    const call = (ms: number) =>
      pacer.run(async () => {
        const record = { start: performance.now(), end: Infinity };
        calls.push(record);
        await sleep(ms);
        record.end = performance.now();
      });
    await Promise.all([30, 5, 60, 10, 40, 20, 15, 25, 35].map(call));
    const overlapping = calls.filter((c) => c.start < calls[0]!.end).length;
    assert.ok(overlapping >= 2, "calls ran at once");
    // At any start, every earlier call is either still out (its arrival still to come) or replied less than a
    // window ago: those hold the slots, and there are never as many as the rule allows.
    for (const { start } of calls) {
      const holding = calls.filter((c) => c.start < start && c.end > start - windowMs);
      assert.ok(holding.length < 3, `${holding.length} slots held at ${start}`);
    }
  });

  test("rules kept per key: a pacer per resource, forgotten once idle, kept while in use", async () => {
    const c = clock();
    const perKey = new PacerPerKey({ perWindow: 3, windowMs: 1000, now: c.now, sleep: c.sleep });
    await perKey.for("doc-a").run(async () => undefined);
    await perKey.for("doc-b").run(async () => undefined);
    assert.equal(perKey.size, 2, "within the window both still count");
    c.advance(1000);
    let finish = () => {};
    const busy = perKey.for("doc-c").run(() => new Promise<void>((resolve) => (finish = resolve)));
    assert.equal(perKey.size, 1, "the idle ones are forgotten when a new one is made");
    await Promise.resolve();
    await perKey.for("doc-d").run(async () => undefined);
    assert.equal(perKey.size, 2, "a pacer with a call in flight is kept");
    finish();
    await busy;
    // Every handle of a key shares its pacer: the 4th call in a window waits for the window of the 1st reply.
    c.advance(1000);
    const start = c.now();
    for (let i = 0; i < 3; i++) await perKey.for("doc-e").run(async () => undefined);
    assert.equal(c.now(), start);
    await perKey.for("doc-e").run(async () => undefined);
    assert.equal(c.now(), start + 1000);
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
