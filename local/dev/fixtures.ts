/**
 * What `npm start` puts on the Lark emulator so that each kind of target has somewhere to go: a document, a
 * base whose table has an attachment field, a spreadsheet and a Drive folder. Ids are shaped like Lark's
 * (letters and digits), and the same at every start.
 */
import type { LarkEmulator } from "../lark-emulator";

export const DEMO = {
  document: "doxcnLocalDemoDocument",
  base: { appToken: "bascnLocalDemoBase", tableId: "tblLocalDemoTable", attachmentField: "Attachment" },
  sheet: { token: "shtcnLocalDemoSheet", sheetId: "LocalDemo", cell: "A1" },
  folder: "fldcnLocalDemoFolder",
} as const;

/** Where untagged files go: a new record of the demo base, where they can be seen. */
export const DEMO_DEFAULT_TARGET = `base:${DEMO.base.appToken}/${DEMO.base.tableId}`;

/** A copy-paste line for one kind of target. */
export interface DemoTarget {
  /** The `lark-target` value. */
  target: string;
  /** A file that suits it. */
  file: string;
}

/** Adds the demo fixtures; returns the targets they offer. */
export function addDemoFixtures(emulator: LarkEmulator): DemoTarget[] {
  const { document, base, sheet, folder } = DEMO;
  emulator.addDocument(document, { title: "Local demo" });
  emulator.addBase(base.appToken, {
    tables: [
      {
        tableId: base.tableId,
        name: "Local demo",
        fields: [
          { name: "Name", type: 1 },
          { name: base.attachmentField, type: 17 },
        ],
      },
    ],
  });
  emulator.addSpreadsheet(sheet.token, { sheets: [{ sheetId: sheet.sheetId, title: "Local demo" }] });
  emulator.addFolder(folder, { name: "Local demo" });
  return [
    { target: `docx:${document}`, file: "./photo.png" },
    { target: `base:${base.appToken}/${base.tableId}`, file: "./report.pdf" },
    { target: `sheet:${sheet.token}/${sheet.sheetId}/${sheet.cell}`, file: "./photo.png" },
    { target: `folder:${folder}`, file: "./report.pdf" },
  ];
}
