// drive/v1 folders: the app's root folder and the folders shared with the app (fixtures), what they hold (Drive
// files, imported documents), and GET /open-apis/drive/v1/files listing one.
//
// Limits: at most `itemLimit` items per folder level (Lark: 1500): a Drive upload into a full folder is 1062507,
// an import into one ends with job_status 105.
//
// Chosen where Lark's documentation is silent:
// - The app's root folder has a fixed token (ROOT_FOLDER_TOKEN); an empty folder token (files upload parent_node,
//   import mount_key, list folder_token) means it. It is the app's own: writable, never removed.
// - A fixture is a folder shared with the app; it is not listed in the root. `editable: false`: the app may list
//   it, not write into it (uploads 1061004, imports 1069908, grants 1063002).
// - A removed folder: uploads 1061041, listing 1061007 (HTTP 404), imports 1069908. An unknown one: uploads
//   1061044, listing 1061003 (HTTP 404), imports 1069912.
// - Listing: items in the order they arrived; page_size 1..200 (default 100) else 1064001; a page_token the
//   emulator did not issue 1061002; the root's listing is not paginated (the reference says so of an empty
//   folder_token). Rate: 50 requests/s per app (Lark: "special rate limit", no number).
// - URLs: <tenantUrl>/file/<token>, /docx/<token>, /sheets/<token>, /base/<token>, /drive/folder/<token>.

import { drain } from "./bodies";
import type { Family, FamilyContext } from "./family";
import type { RateRule } from "./limits";
import { type Ctx, LarkError, pageOf, replyData } from "./server";

export type FoldersEndpoint = "drive.file.list";

const LISTS = { name: "drive.file_list", limit: 50, perMs: 1000, status: 429 } as const satisfies RateRule;
export type FoldersRateRule = typeof LISTS.name;

export const ROOT_FOLDER_TOKEN = "fldcnEmulatorAppRootFolder0";

export type DriveItemType = "file" | "docx" | "sheet" | "bitable";

export interface DriveItem {
  token: string;
  name: string;
  type: DriveItemType;
  parentToken: string;
  url: string;
  /** Epoch ms. */
  createdAt: number;
}

export interface DriveFolder {
  token: string;
  name: string;
  /** The app may write into it (false: it may only list it). */
  editable: boolean;
  deleted: boolean;
  items: DriveItem[];
}

export interface FolderFixture {
  /** Default true. */
  editable?: boolean;
  /** Default: the token. */
  name?: string;
}

/** How a folder meets a writer: each API answers each case with its own code. */
export type FolderState = "writable" | "unknown" | "removed" | "read-only" | "full";

/** A folder as GET /__emulator/state shows it: its items as the listing answers them. */
export type FolderView = ReturnType<typeof folderView>;

export interface Folders extends Family {
  snapshot(): FolderView[];
  folders: ReadonlyMap<string, DriveFolder>;
  addFolder(token: string, fixture?: FolderFixture): DriveFolder;
  /** The folder is deleted: writes into it are refused, its listing is 1061007. */
  removeFolder(token: string): void;
  /** The folder a token names, the root for "". */
  resolve(token: string): string;
  stateOf(folderToken: string): FolderState;
  /** Put a new item into a folder `stateOf` called writable. */
  place(folderToken: string, item: { token: string; name: string; type: DriveItemType }): DriveItem;
  /** The item with this token, in whatever folder. */
  item(token: string): DriveItem | undefined;
}

const URL_PATHS: Record<DriveItemType | "folder", string> = {
  file: "file",
  docx: "docx",
  sheet: "sheets",
  bitable: "base",
  folder: "drive/folder",
};

export function createFolders(family: FamilyContext, opts: { itemLimit: number }): Folders {
  const folders = new Map<string, DriveFolder>();
  const items = new Map<string, DriveItem>();
  const urlOf = (type: DriveItemType | "folder", token: string) => `${family.tenantUrl}/${URL_PATHS[type]}/${token}`;

  const addRoot = () =>
    folders.set(ROOT_FOLDER_TOKEN, { token: ROOT_FOLDER_TOKEN, name: "", editable: true, deleted: false, items: [] });
  addRoot();

  function stateOf(token: string): FolderState {
    const folder = folders.get(token);
    if (!folder) return "unknown";
    if (folder.deleted) return "removed";
    if (!folder.editable) return "read-only";
    return folder.items.length >= opts.itemLimit ? "full" : "writable";
  }

  async function list(ctx: Ctx) {
    await drain(ctx.req);
    const token = ctx.query.get("folder_token") ?? "";
    const folder = folders.get(token || ROOT_FOLDER_TOKEN);
    if (!folder) throw new LarkError(1061003);
    if (folder.deleted) throw new LarkError(1061007);
    const all = folder.items.map(itemJson);
    if (token === "") return replyData(ctx, { files: all, has_more: false });
    const page = pageOf(ctx, all, { defaultSize: 100, maxSize: 200, invalidSize: 1064001, invalidToken: 1061002 });
    const next = page.page_token === undefined ? {} : { next_page_token: page.page_token };
    replyData(ctx, { files: page.items, has_more: page.has_more, ...next });
  }

  return {
    routes: [
      {
        method: "GET",
        path: "/open-apis/drive/v1/files",
        endpoint: "drive.file.list",
        limits: () => [family.limits.rate(LISTS, "app")],
        handle: list,
      },
    ],
    folders,
    addFolder(token, { editable = true, name = token } = {}) {
      if (folders.get(token)?.deleted === false) throw new Error(`folder ${token} already exists`);
      const folder: DriveFolder = { token, name, editable, deleted: false, items: [] };
      folders.set(token, folder);
      return folder;
    },
    removeFolder(token) {
      const folder = folders.get(token);
      if (!folder || token === ROOT_FOLDER_TOKEN) throw new Error(`no removable folder ${token}`);
      folder.deleted = true;
    },
    resolve: (token) => token || ROOT_FOLDER_TOKEN,
    stateOf,
    place(folderToken, { token, name, type }) {
      const folder = folders.get(folderToken)!;
      const item: DriveItem = {
        token,
        name,
        type,
        parentToken: folderToken,
        url: urlOf(type, token),
        createdAt: Date.now(),
      };
      folder.items.push(item);
      items.set(token, item);
      return item;
    },
    item: (token) => items.get(token),
    reset() {
      folders.clear();
      items.clear();
      addRoot();
    },
    snapshot: () => [...folders.values()].map((folder) => folderView(folder, urlOf("folder", folder.token))),
  };
}

function itemJson(item: DriveItem): Record<string, unknown> {
  const seconds = String(Math.floor(item.createdAt / 1000));
  return {
    token: item.token,
    name: item.name,
    type: item.type,
    parent_token: item.parentToken,
    url: item.url,
    created_time: seconds,
    modified_time: seconds,
  };
}

function folderView({ items, ...folder }: DriveFolder, url: string) {
  return { ...folder, root: folder.token === ROOT_FOLDER_TOKEN, url, items: items.map(itemJson) };
}
