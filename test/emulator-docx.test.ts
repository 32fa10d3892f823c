// Proof that the emulator's docx family speaks Lark's docx/v1 (the official SDK creates blocks, binds media and
// deletes through it) and is strict: the image and file flows, the relation check of replace_image /
// replace_file, client_token replay, revisions, the per-app and per-document limits, and the error codes.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import FormData from "form-data";
import { request } from "undici";
import type { LarkEmulator, LarkEmulatorOptions } from "../local/lark-emulator";
import {
  assertLark,
  call,
  sdkClient,
  sdkFailure,
  startEmulator,
  tenantToken,
  upload,
  uploaded,
} from "./support/emulator";

const DOC = "doxcnEmulatorDoc0000000001";
const OTHER_DOC = "doxcnEmulatorDoc0000000002";

/** An emulator holding DOC and OTHER_DOC, limits out of the way unless the test is about them. */
async function withDocuments(t: TestContext, opts: LarkEmulatorOptions = {}) {
  const emu = await startEmulator(t, {
    ratePerWindow: 1000,
    rates: { "docx.app_writes": 1000, "docx.document_edits": 1000, "docx.app_reads": 1000 },
    ...opts,
  });
  emu.addDocument(DOC, { title: "Inbox" });
  emu.addDocument(OTHER_DOC);
  return { emu, token: await tenantToken(emu) };
}

const children = (documentId: string, blockId = documentId) =>
  `/open-apis/docx/v1/documents/${documentId}/blocks/${blockId}/children`;
const blockPath = (documentId: string, blockId: string) =>
  `/open-apis/docx/v1/documents/${documentId}/blocks/${blockId}`;

async function createBlocks(emu: LarkEmulator, token: string, documentId: string, specs: unknown[], query = {}) {
  const a = await call(emu, "POST", children(documentId), { token, body: { children: specs }, query });
  assertLark(a, 200, 0);
  return a.json.data as { children: any[]; document_revision_id: number; client_token: string };
}

describe("the official SDK places media in a document", () => {
  test("image: create an Image block, upload into it with drive_route_token, replace_image", async (t) => {
    const { emu } = await withDocuments(t);
    const client = sdkClient(emu);
    const created = await client.docx.v1.documentBlockChildren.create({
      path: { document_id: DOC, block_id: DOC },
      params: { document_revision_id: -1 },
      data: { index: 0, children: [{ block_type: 27, image: {} }] },
    });
    assert.equal(created.code, 0);
    const image = created.data!.children![0];
    assert.equal(image.block_type, 27);
    assert.equal(image.parent_id, DOC);
    assert.deepEqual(image.image, { width: 100, height: 100, token: "" });
    assert.match(image.block_id!, /^doxcn[A-Za-z0-9]{22}$/);
    assert.equal(created.data!.document_revision_id, 2);
    assert.match(created.data!.client_token, /^[0-9a-f-]{36}$/);

    const media = await client.drive.media.uploadAll({
      data: {
        file_name: "photo.png",
        parent_type: "docx_image",
        parent_node: image.block_id!,
        size: 5,
        extra: JSON.stringify({ drive_route_token: DOC }),
        file: Buffer.from("pixel"),
      },
    });
    const fileToken = media!.file_token!;
    assert.equal(emu.files[0].driveRouteToken, DOC);

    const patched = await client.docx.v1.documentBlock.patch({
      path: { document_id: DOC, block_id: image.block_id! },
      data: { replace_image: { token: fileToken, width: 640, height: 480 } },
    });
    assert.equal(patched.code, 0);
    assert.deepEqual(patched.data!.block!.image, { width: 640, height: 480, token: fileToken });
    assert.equal(patched.data!.document_revision_id, 3);

    const got = await client.docx.v1.documentBlock.get({ path: { document_id: DOC, block_id: image.block_id! } });
    assert.equal(got.data!.block!.image!.token, fileToken);
    const root = await client.docx.v1.documentBlock.get({ path: { document_id: DOC, block_id: DOC } });
    assert.deepEqual(root.data!.block!.children, [image.block_id]);
    assert.equal(root.data!.block!.block_type, 1);
    const info = await client.docx.v1.document.get({ path: { document_id: DOC } });
    assert.deepEqual(info.data!.document, { document_id: DOC, revision_id: 3, title: "Inbox" });
    assert.equal(emu.documents.get(DOC)!.blocks.get(image.block_id!)!.payload.token, fileToken);
  });

  test("file: the answer's block is a View whose child is the File block; replace_file names the file", async (t) => {
    const { emu, token } = await withDocuments(t);
    const client = sdkClient(emu);
    const created = await client.docx.v1.documentBlockChildren.create({
      path: { document_id: DOC, block_id: DOC },
      data: { children: [{ block_type: 23, file: {} }] },
    });
    const view = created.data!.children![0];
    assert.equal(view.block_type, 33);
    assert.deepEqual(view.view, { view_type: 1 });
    assert.equal(view.children!.length, 1);
    const fileBlockId = view.children![0];
    const fileBlock = await client.docx.v1.documentBlock.get({ path: { document_id: DOC, block_id: fileBlockId } });
    assert.equal(fileBlock.data!.block!.block_type, 23);
    assert.equal(fileBlock.data!.block!.parent_id, view.block_id);

    // The View is not where the file goes.
    const intoView = { parentType: "docx_file", parentNode: view.block_id!, driveRouteToken: DOC };
    assertLark(await upload(emu, token, intoView), 400, 1061044);
    const fileToken = await uploaded(emu, token, { ...intoView, parentNode: fileBlockId, fileName: "report.pdf" });

    const wrongBlock = await sdkFailure(
      client.docx.v1.documentBlock.patch({
        path: { document_id: DOC, block_id: view.block_id! },
        data: { replace_file: { token: fileToken } },
      }),
    );
    assert.deepEqual(wrongBlock, { status: 400, code: 1770025 });
    const patched = await client.docx.v1.documentBlock.patch({
      path: { document_id: DOC, block_id: fileBlockId },
      data: { replace_file: { token: fileToken } },
    });
    assert.equal(patched.data!.block!.file!.token, fileToken);
    assert.equal(patched.data!.block!.file!.name, "report.pdf");
  });

  test("list: every live block in document order, paged; batchDelete removes a range with its descendants", async (t) => {
    const { emu } = await withDocuments(t);
    const client = sdkClient(emu);
    const text = { block_type: 2, text: { elements: [{ text_run: { content: "hello" } }] } };
    const created = await client.docx.v1.documentBlockChildren.create({
      path: { document_id: DOC, block_id: DOC },
      data: { children: [text, { block_type: 27, image: {} }, { block_type: 23, file: {} }] },
    });
    const [textBlock, image, view] = created.data!.children!;

    const first = await client.docx.v1.documentBlock.list({ path: { document_id: DOC }, params: { page_size: 3 } });
    assert.deepEqual(
      first.data!.items!.map((b) => b.block_type),
      [1, 2, 27],
    );
    assert.equal(first.data!.has_more, true);
    const rest = await client.docx.v1.documentBlock.list({
      path: { document_id: DOC },
      params: { page_size: 3, page_token: first.data!.page_token },
    });
    assert.deepEqual(
      rest.data!.items!.map((b) => b.block_type),
      [33, 23],
    );
    assert.equal(rest.data!.has_more, false);

    const deleted = await client.docx.v1.documentBlockChildren.batchDelete({
      path: { document_id: DOC, block_id: DOC },
      data: { start_index: 1, end_index: 3 },
    });
    assert.equal(deleted.code, 0);
    assert.equal(deleted.data!.document_revision_id, 3);
    const left = await client.docx.v1.documentBlock.list({ path: { document_id: DOC } });
    assert.deepEqual(
      left.data!.items!.map((b) => b.block_id),
      [DOC, textBlock.block_id],
    );
    const gone = await sdkFailure(
      client.docx.v1.documentBlock.get({ path: { document_id: DOC, block_id: view.children![0] } }),
    );
    assert.deepEqual(gone, { status: 400, code: 1770003 });
    assert.equal(emu.documents.get(DOC)!.blocks.get(image.block_id!)!.deleted, true);
  });
});

describe("binding media is strict", () => {
  test("replace_image is 1770013 unless the token was uploaded into this block with this document's route", async (t) => {
    const { emu, token } = await withDocuments(t);
    const [a, b] = (
      await createBlocks(emu, token, DOC, [
        { block_type: 27, image: {} },
        { block_type: 27, image: {} },
      ])
    ).children;
    const [elsewhere] = (await createBlocks(emu, token, OTHER_DOC, [{ block_type: 27, image: {} }])).children;
    const patch = (fileToken: string) =>
      call(emu, "PATCH", blockPath(DOC, a.block_id), { token, body: { replace_image: { token: fileToken } } });

    const intoB = await uploaded(emu, token, {
      parentType: "docx_image",
      parentNode: b.block_id,
      driveRouteToken: DOC,
    });
    assertLark(await patch(intoB), 400, 1770013);
    const noRoute = await uploaded(emu, token, { parentType: "docx_image", parentNode: a.block_id });
    assertLark(await patch(noRoute), 400, 1770013);
    const otherRoute = await uploaded(emu, token, {
      parentType: "docx_image",
      parentNode: a.block_id,
      driveRouteToken: OTHER_DOC,
    });
    assertLark(await patch(otherRoute), 400, 1770013);
    const otherDoc = await uploaded(emu, token, {
      parentType: "docx_image",
      parentNode: elsewhere.block_id,
      driveRouteToken: OTHER_DOC,
    });
    assertLark(await patch(otherDoc), 400, 1770013);
    assertLark(await patch("boxcnNeverUploaded0000000000"), 400, 1770013);
    assertLark(await patch(""), 400, 1770001);

    const right = await uploaded(emu, token, {
      parentType: "docx_image",
      parentNode: a.block_id,
      driveRouteToken: DOC,
    });
    assertLark(await patch(right), 200, 0);
    assert.equal(emu.documents.get(DOC)!.revisionId, 3, "the create and the one successful patch");
  });

  test("uploads into a document: the parent must be a live Image / File block of an editable document", async (t) => {
    const { emu, token } = await withDocuments(t);
    const [image] = (await createBlocks(emu, token, DOC, [{ block_type: 27, image: {} }])).children;
    const into = (parentType: string, parentNode: string) =>
      upload(emu, token, { parentType, parentNode, driveRouteToken: DOC });
    assertLark(await into("docx_image", DOC), 400, 1061044); // the page itself
    assertLark(await into("docx_image", "doxcnNoSuchBlock0000000000"), 400, 1061044);
    assertLark(await into("docx_file", image.block_id), 400, 1061044); // an Image block takes images
    assertLark(await into("docx_image", image.block_id), 200, 0);
    emu.documents.get(DOC)!.editable = false;
    assertLark(await into("docx_image", image.block_id), 403, 1061004);
    emu.documents.get(DOC)!.editable = true;
    emu.removeDocument(DOC);
    assertLark(await into("docx_image", image.block_id), 400, 1061041);
    // Other parent types are not the docx family's business.
    assertLark(await into("doc_image", "anything"), 200, 0);
  });

  test("the chunked upload is judged and bound the same way", async (t) => {
    const { emu, token } = await withDocuments(t);
    const [image] = (await createBlocks(emu, token, DOC, [{ block_type: 27, image: {} }])).children;
    const bytes = Buffer.from("0123456789");
    const prepare = (parent_node: string) =>
      call(emu, "POST", "/open-apis/drive/v1/medias/upload_prepare", {
        token,
        body: {
          file_name: "big.png",
          parent_type: "docx_image",
          parent_node,
          size: bytes.length,
          extra: JSON.stringify({ drive_route_token: DOC }),
        },
      });
    assertLark(await prepare(DOC), 400, 1061044);
    const prepared = await prepare(image.block_id);
    assertLark(prepared, 200, 0);
    const uploadId = prepared.json.data.upload_id;
    const part = new FormData();
    for (const [name, value] of [
      ["upload_id", uploadId],
      ["seq", "0"],
      ["size", String(bytes.length)],
    ])
      part.append(name, value);
    part.append("file", bytes, { filename: "blob" });
    const sent = await request(`${emu.url}/open-apis/drive/v1/medias/upload_part`, {
      method: "POST",
      headers: { ...part.getHeaders(), authorization: `Bearer ${token}` },
      body: part.getBuffer(),
    });
    assert.equal(((await sent.body.json()) as any).code, 0);
    const finished = await call(emu, "POST", "/open-apis/drive/v1/medias/upload_finish", {
      token,
      body: { upload_id: uploadId, block_num: 1 },
    });
    assertLark(finished, 200, 0);
    const replace = { replace_image: { token: finished.json.data.file_token } };
    assertLark(await call(emu, "PATCH", blockPath(DOC, image.block_id), { token, body: replace }), 200, 0);
  });

  test("client_token: a repeat gets the first answer again and creates nothing, even once that block is deleted", async (t) => {
    const { emu, token } = await withDocuments(t);
    const query = { client_token: "0d9e4c3a-5a38-4c8b-9a0f-5b8f8f9b1c2d" };
    const first = await createBlocks(emu, token, DOC, [{ block_type: 27, image: {} }], query);
    assert.equal(first.client_token, query.client_token);
    const again = await createBlocks(emu, token, DOC, [{ block_type: 27, image: {} }], query);
    assert.deepEqual(again, first);
    assert.equal(emu.documents.get(DOC)!.blocks.get(DOC)!.children.length, 1);

    const del = await call(emu, "DELETE", `${children(DOC)}/batch_delete`, {
      token,
      body: { start_index: 0, end_index: 1 },
    });
    assertLark(del, 200, 0);
    const careless = await createBlocks(emu, token, DOC, [{ block_type: 27, image: {} }], query);
    assert.deepEqual(careless, first, "the dead block comes back");
    const dead = first.children[0].block_id;
    assertLark(
      await upload(emu, token, { parentType: "docx_image", parentNode: dead, driveRouteToken: DOC }),
      400,
      1061041,
    );
    assertLark(await call(emu, "GET", blockPath(DOC, dead), { token }), 400, 1770003);
    assert.equal(emu.documents.get(DOC)!.revisionId, 3);
    // The same token on another document is another request.
    const other = await createBlocks(emu, token, OTHER_DOC, [{ block_type: 27, image: {} }], query);
    assert.notEqual(other.children[0].block_id, dead);
  });

  test("documents, blocks and revisions answer with Lark's codes and HTTP statuses", async (t) => {
    const { emu, token } = await withDocuments(t);
    const image = { block_type: 27, image: {} };
    const post = (path: string, body: unknown, query = {}) => call(emu, "POST", path, { token, body, query });
    assertLark(await post(children("doxcnNoSuchDocument00000000"), { children: [image] }), 404, 1770002);
    assertLark(
      await call(emu, "GET", "/open-apis/docx/v1/documents/doxcnNoSuchDocument00000000", { token }),
      404,
      1770002,
    );
    const [img] = (await createBlocks(emu, token, DOC, [image])).children;
    const [other] = (await createBlocks(emu, token, OTHER_DOC, [image])).children;

    assertLark(await post(children(DOC, other.block_id), { children: [image] }), 400, 1770015);
    assertLark(await post(children(DOC, "doxcnNoSuchBlock0000000000"), { children: [image] }), 400, 1770001);
    assertLark(await post(children(DOC, img.block_id), { children: [image] }), 400, 1770028);
    assertLark(await post(children(DOC), { children: [{ block_type: 33, view: { view_type: 1 } }] }), 400, 1770014);
    assertLark(await post(children(DOC), { children: [{ block_type: 31, table: {} }] }), 400, 1770029);
    assertLark(await post(children(DOC), { children: [{ block_type: 27 }] }), 400, 1770001);
    assertLark(await post(children(DOC), { children: [] }), 400, 1770001);
    assertLark(await post(children(DOC), { children: Array(51).fill(image) }), 400, 1770001);
    assertLark(await post(children(DOC), { children: Array(21).fill(image) }), 400, 1770035);
    assertLark(await post(children(DOC), { index: 2, children: [image] }), 400, 1770001);
    assertLark(await post(children(DOC), { index: 1, children: [image] }), 200, 0);

    const revision = emu.documents.get(DOC)!.revisionId;
    assertLark(await post(children(DOC), { children: [image] }, { document_revision_id: revision - 1 }), 400, 1770021);
    assertLark(await post(children(DOC), { children: [image] }, { document_revision_id: revision + 1 }), 400, 1770001);
    assertLark(await post(children(DOC), { children: [image] }, { document_revision_id: revision }), 200, 0);

    const del = (body: unknown) => call(emu, "DELETE", `${children(DOC)}/batch_delete`, { token, body });
    for (const range of [
      { start_index: 1, end_index: 1 },
      { start_index: -1, end_index: 1 },
      { start_index: 0, end_index: 99 },
    ])
      assertLark(await del(range), 400, 1770001);

    emu.documents.get(DOC)!.editable = false;
    assertLark(await post(children(DOC), { children: [image] }), 403, 1770032);
    assertLark(await call(emu, "GET", blockPath(DOC, DOC), { token }), 200, 0); // still readable
    emu.removeDocument(OTHER_DOC);
    assertLark(await call(emu, "GET", blockPath(OTHER_DOC, OTHER_DOC), { token }), 404, 1770002);
    const list = await call(emu, "GET", `/open-apis/docx/v1/documents/${DOC}/blocks`, {
      token,
      query: { page_token: "bm90LW91cnM" },
    });
    assertLark(list, 400, 1770022);
  });
});

describe("docx limits and faults", () => {
  test("3 writes/s per app per endpoint: the 4th create in a second is HTTP 400 + 99991400", async (t) => {
    const emu = await startEmulator(t);
    const token = await tenantToken(emu);
    const docs = ["doxcnLimitA", "doxcnLimitB", "doxcnLimitC", "doxcnLimitD"];
    for (const id of docs) emu.addDocument(id);
    const answers = [];
    for (const id of docs)
      answers.push(
        await call(emu, "POST", children(id), { token, body: { children: [{ block_type: 22, divider: {} }] } }),
      );
    for (const a of answers.slice(0, 3)) assertLark(a, 200, 0);
    assertLark(answers[3], 400, 99991400);
    assert.equal(answers[3].json.msg, "request trigger frequency limit");
    assert.equal(answers[3].headers["x-ogw-ratelimit-limit"], "3");
    assert.equal(answers[3].headers["x-ogw-ratelimit-reset"], "1");
    // Another endpoint has its own window.
    assertLark(
      await call(emu, "DELETE", `${children(docs[3])}/batch_delete`, { token, body: { start_index: 0, end_index: 1 } }),
      400,
      1770001,
    );
  });

  test("3 edits/s per document, all write endpoints together: the 4th is HTTP 429 + 99991400", async (t) => {
    const emu = await startEmulator(t, { timeScale: 0.2 });
    const token = await tenantToken(emu);
    emu.addDocument(DOC);
    const divider = { children: [{ block_type: 22, divider: {} }] };
    assertLark(await call(emu, "POST", children(DOC), { token, body: divider }), 200, 0);
    assertLark(await call(emu, "POST", children(DOC), { token, body: divider }), 200, 0);
    const del = { start_index: 0, end_index: 1 };
    assertLark(await call(emu, "DELETE", `${children(DOC)}/batch_delete`, { token, body: del }), 200, 0);
    const fourth = await call(emu, "PATCH", blockPath(DOC, DOC), { token, body: { replace_image: { token: "x" } } });
    assertLark(fourth, 429, 99991400);
    const reset = Number(fourth.headers["x-ogw-ratelimit-reset"]);
    assert.ok(reset > 0 && reset <= 0.2, `reset ${reset} is scaled by timeScale`);
    // Reads are not edits; another document has its own window.
    assertLark(await call(emu, "GET", blockPath(DOC, DOC), { token }), 200, 0);
    emu.addDocument(OTHER_DOC);
    assertLark(await call(emu, "POST", children(OTHER_DOC), { token, body: divider }), 200, 0);
    await sleep(reset * 1000 + 5);
    assertLark(await call(emu, "POST", children(DOC), { token, body: divider }), 200, 0);
  });

  test("faults address a docx endpoint by its SDK name; a rule without a path leaves docx alone", async (t) => {
    const { emu, token } = await withDocuments(t);
    emu.injectFault({ fault: { kind: "code", code: 1061045 } });
    emu.injectFault({ fault: { kind: "code", code: 1771001 }, path: "docx.documentBlockChildren.create" });
    const divider = { children: [{ block_type: 22, divider: {} }] };
    assertLark(await call(emu, "GET", blockPath(DOC, DOC), { token }), 200, 0);
    assertLark(await call(emu, "POST", children(DOC), { token, body: divider }), 500, 1771001);
    assertLark(await call(emu, "POST", children(DOC), { token, body: divider }), 200, 0);
    assertLark(await upload(emu, token, { parentType: "doc_image", parentNode: "n" }), 200, 1061045);
  });

  test("auth first: no token is 99991661 before any docx check", async (t) => {
    const { emu } = await withDocuments(t);
    assertLark(await call(emu, "GET", blockPath("doxcnNoSuchDocument00000000", "x")), 400, 99991661);
  });
});

describe("docx state", () => {
  test("GET /__emulator/state shows documents and their blocks; reset() forgets them", async (t) => {
    const { emu, token } = await withDocuments(t);
    const [image] = (await createBlocks(emu, token, DOC, [{ block_type: 27, image: {} }])).children;
    const state = (await call(emu, "GET", "/__emulator/state")).json;
    const doc = state.documents.find((d: any) => d.documentId === DOC);
    assert.equal(doc.revisionId, 2);
    assert.deepEqual(
      doc.blocks.map((b: any) => [b.block_id, b.block_type, b.deleted]),
      [
        [DOC, 1, false],
        [image.block_id, 27, false],
      ],
    );
    assert.deepEqual(state, emu.state());
    emu.reset();
    assert.equal(emu.documents.size, 0);
    assertLark(await call(emu, "GET", blockPath(DOC, DOC), { token }), 404, 1770002);
  });
});
