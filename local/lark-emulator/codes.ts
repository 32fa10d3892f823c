// HTTP status and msg of each Lark code, as the error tables of Lark's documentation give them.
// Codes are unique across Lark's APIs, so one table serves every family.

const GATEWAY: Record<number, [number, string]> = {
  10003: [200, "invalid param"],
  10014: [200, "app secret invalid"],
  99991400: [429, "request trigger frequency limit"],
  99991661: [400, "Missing access token for authorization. Please make a request with token attached."],
  99991663: [400, "Invalid access token for authorization. Please make a request with token attached."],
  99991668: [400, "Invalid access token for authorization. Please make a request with token attached."],
  99991671: [400, "Invalid access token for authorization. The token must start with 't-' or 'u-'."],
  99991672: [400, "Access denied. The app has not been granted the scope this API needs."],
};

// Lark's upload_all reference.
const MEDIA: Record<number, [number, string]> = {
  1061001: [200, "unknown error."],
  1061002: [400, "params error."],
  1061003: [404, "not found."],
  1061004: [403, "forbidden."],
  1061005: [401, "auth failed."],
  1061006: [200, "internal time out, can retry."],
  1061007: [404, "file has been delete."],
  1061008: [400, "invalid file name."],
  1061021: [400, "upload id expire."],
  1061041: [400, "parent node has been deleted."],
  1061042: [400, "parent node out of limit."],
  1061043: [400, "file size beyond limit."],
  1061044: [400, "parent node not exist."],
  1061045: [200, "can retry."],
  1061109: [400, "file name cqc not passed."],
  1061113: [400, "file cqc not passed."],
  1061101: [400, "file quota exceeded."],
  1062004: [202, "cover generating."],
  1062005: [202, "file type not support cover."],
  1062006: [202, "cover no exist."],
  1062007: [400, "upload user not match."],
  1062008: [400, "checksum param Invalid."],
  1062009: [400, "the actual size is inconsistent with the parameter declaration size."],
  1062010: [400, "block missing, please upload all blocks."],
  1062011: [400, "block num out of bounds."],
  1061547: [400, "attachment parent-child relation number exceed."],
  1061061: [400, "user quota exceeded."],
  1061073: [403, "no scope auth."],
  1062012: [400, "file copying."],
  1062013: [400, "file damaged."],
  1062014: [403, "dedupe no support."],
  1062051: [400, "client connect close."],
  1062505: [400, "parent node out of size."],
  1062506: [400, "parent node out of depth."],
  1062507: [400, "parent node out of sibling num."],
};

// Lark's Drive file references (upload, list) beyond the media codes.
const DRIVE: Record<number, [number, string]> = {
  1061022: [500, "file version conflict."],
  1061500: [403, "mount node point kill."],
  1064001: [400, "page size out of limit."],
  1064230: [200, "locked for data migration"],
};

// Lark's import task references (create, get).
const IMPORT: Record<number, [number, string]> = {
  1069901: [500, "internal error"],
  1069902: [403, "no permission"],
  1069903: [500, "internal error"],
  1069904: [400, "invalid param"],
  1069905: [500, "internal error"],
  1069906: [403, "docs deleted"],
  1069907: [404, "file token not found"],
  1069908: [403, "mount point not found or no permission"],
  1069909: [400, "import file size over limit"],
  1069910: [400, "import file extension not match"],
  1069911: [400, "import file type not match"],
  1069912: [400, "folder not exist"],
  1069913: [400, "import file token expired"],
  1069914: [400, "invalid file token"],
  1069923: [429, "too many requests"],
};

// Lark's permission member references.
const PERMISSION: Record<number, [number, string]> = {
  1063001: [400, "Invalid parameter"],
  1063002: [403, "Permission denied"],
  1063003: [400, "Invalid operation"],
  1063005: [404, "Resource is deleted"],
  1066001: [500, "Internal Error"],
  1066002: [500, "Concurrency error, please retry"],
};

// Lark's docx block references (create, update, batch delete; one table for all).
const DOCX: Record<number, [number, string]> = {
  1770001: [400, "invalid param"],
  1770002: [404, "not found"],
  1770003: [400, "resource deleted"],
  1770004: [400, "too many blocks in document"],
  1770005: [400, "too deep level in document"],
  1770007: [400, "too many children in block"],
  1770013: [400, "relation mismatch"],
  1770014: [400, "parent children relation mismatch"],
  1770015: [400, "single edit with multi document"],
  1770021: [400, "too old document"],
  1770022: [400, "invalid page token"],
  1770024: [400, "invalid operation"],
  1770025: [400, "operation and block not match"],
  1770028: [400, "block not support create children"],
  1770029: [400, "block not support to create"],
  1770031: [400, "block not support to delete children"],
  1770032: [403, "forbidden"],
  1770035: [400, "resource count exceeded"],
  1771001: [500, "server internal error"],
  1771005: [503, "system under maintenance"],
};

// Lark's bitable record references; most answer HTTP 200.
const BITABLE: Record<number, [number, string]> = {
  1254000: [200, "WrongRequestJson"],
  1254001: [200, "WrongRequestBody"],
  1254010: [200, "ReqConvError"],
  1254015: [400, "Field types do not match."],
  1254037: [400, "Invalid client token, make sure that it complies with the specification."],
  1254040: [200, "BaseTokenNotFound"],
  1254041: [200, "TableIdNotFound"],
  1254043: [200, "RecordIdNotFound"],
  1254045: [200, "FieldNameNotFound"],
  1254060: [200, "TextFieldConvFail"],
  1254061: [200, "NumberFieldConvFail"],
  1254062: [200, "SingleSelectFieldConvFail"],
  1254063: [200, "MultiSelectFieldConvFail"],
  1254064: [200, "DatetimeFieldConvFail"],
  1254065: [200, "CheckboxFieldConvFail"],
  1254068: [200, "URLFieldConvFail"],
  1254069: [200, "AttachFieldConvFail"],
  1254072: [200, "Failed to convert phone field, please make sure it is correct."],
  1254290: [200, "TooManyRequest"],
  1254291: [200, "Write conflict"],
  1254302: [403, "Permission denied."],
  1254303: [200, "The attachment does not belong to this base."],
  1254607: [400, "Data not ready, please try again later"],
  1255001: [200, "InternalError"],
  1255006: [400, "Client token conflict, please generate a new client token and try again."],
  1255040: [504, "请求超时"],
};

// Lark's sheets float image references; all answer HTTP 400 but the server errors.
const SHEETS: Record<number, [number, string]> = {
  1310202: [400, "Wrong Range"],
  1310211: [400, "Wrong Sheet Id"],
  1310213: [400, "Permission Fail"],
  1310214: [400, "SpreadSheet Not Found"],
  1310215: [400, "Sheet Id Not Found"],
  1310217: [400, "Too Many Request"],
  1310229: [400, "Wrong URL Param"],
  1310235: [400, "Retry Later"],
  1310243: [400, "Wrong Float Image Id"],
  1310244: [400, "Exist Float Image Id"],
  1310245: [400, "Wrong Float Image Token"],
  1310246: [400, "Wrong Float Image Value"],
  1310247: [400, "Image Excess"],
  1310249: [400, "Spreadsheet Deleted"],
  1315201: [500, "Server Error"],
};

const CODES: Record<number, [number, string]> = {
  0: [200, "success"],
  ...GATEWAY,
  ...MEDIA,
  ...DRIVE,
  ...IMPORT,
  ...PERMISSION,
  ...DOCX,
  ...BITABLE,
  ...SHEETS,
};

export const statusOf = (code: number) => CODES[code]?.[0] ?? 400;
export const msgOf = (code: number) => CODES[code]?.[1] ?? "error";
