// Proof of the emulator's delay fault (a request that reaches Lark late, or never when the client gives up first)
// and of stats().limitViolations, which names every limit any family enforced.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { assertLark, call, startEmulator, tenantToken, upload } from "./support/emulator";

const DOC = "doxcnEmulatorDelayDoc00001";
/** An upload no modelled family judges. */
const ANYWHERE = { parentType: "moments", parentNode: "momentsNode" };

describe("delay: the request is processed late", () => {
  test("an upload delayed 200 ms is answered normally, after the delay", async (t) => {
    const emu = await startEmulator(t);
    const token = await tenantToken(emu);
    emu.injectFault({ fault: { kind: "delay", ms: 200 } });
    const started = performance.now();
    const answer = await upload(emu, token, ANYWHERE);
    assertLark(answer, 200, 0);
    assert.ok(performance.now() - started >= 195, "answered only after the delay");
    assert.equal(emu.files[0].fileToken, answer.json.data.file_token);
  });

  test("a client that gives up during the delay leaves no file, and holds no slot", async (t) => {
    const emu = await startEmulator(t, { ratePerWindow: 1 });
    const token = await tenantToken(emu);
    emu.injectFault({ fault: { kind: "delay", ms: 300 } });
    const abandoned = upload(emu, token, ANYWHERE, 80);
    await assert.rejects(abandoned, { name: "TimeoutError" });
    await sleep(300);
    assert.equal(emu.files.length, 0, "the abandoned upload was never processed");
    assertLark(await upload(emu, token, ANYWHERE), 200, 0);
    assert.equal(emu.files.length, 1);
  });

  test("a delayed docx write the client abandons changes nothing", async (t) => {
    const emu = await startEmulator(t);
    emu.addDocument(DOC);
    const token = await tenantToken(emu);
    const children = `/open-apis/docx/v1/documents/${DOC}/blocks/${DOC}/children`;
    const body = { children: [{ block_type: 22, divider: {} }] };
    emu.injectFault({ fault: { kind: "delay", ms: 300 }, path: "docx.documentBlockChildren.create" });
    await assert.rejects(call(emu, "POST", children, { token, body, timeoutMs: 80 }), { name: "TimeoutError" });
    await sleep(300);
    assert.equal(emu.documents.get(DOC)!.revisionId, 1);
    assert.equal(emu.documents.get(DOC)!.blocks.size, 1);
  });
});

describe("stats().limitViolations", () => {
  test("names each refused rule of any family and resets with the emulator", async (t) => {
    const emu = await startEmulator(t, { ratePerWindow: 1, rates: { "docx.app_reads": 1 } });
    emu.addDocument(DOC);
    const token = await tenantToken(emu);
    assert.deepEqual(emu.stats().limitViolations, {});
    const read = () => call(emu, "GET", `/open-apis/docx/v1/documents/${DOC}`, { token });
    assertLark(await read(), 200, 0);
    assertLark(await read(), 400, 99991400);
    assertLark(await upload(emu, token, ANYWHERE), 200, 0);
    assertLark(await upload(emu, token, ANYWHERE), 429, 99991400);
    assert.deepEqual(emu.stats().limitViolations, { "docx.app_reads": 1, media: 1 });
    assert.equal(emu.stats().rateViolations, 1, "the media count is kept as before");
    emu.reset();
    assert.deepEqual(emu.stats().limitViolations, {});
  });
});
