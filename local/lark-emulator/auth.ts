// tenant_access_token/internal and the bearer check every other endpoint makes.
//
// Chosen where Lark's documentation is silent:
// - Token errors (99991661/99991663/99991668/99991671) are HTTP 400, as real Lark answers them; an
//   Authorization header without the "Bearer " prefix counts as no token (99991661), as on real Lark.
// - The token endpoint answers HTTP 200 even on failure: 10003 invalid param, 10014 app id not exists /
//   app secret invalid.

import { readJson } from "./bodies";
import { randomAlnum } from "./ids";
import { type Ctx, type Route, reply } from "./server";

const TOKEN_REUSE_MS = 30 * 60 * 1000; // Lark hands out the same token until < 30 min remain

export interface Auth {
  route: Route;
  /** The code answering this Authorization header, or undefined when it carries a valid tenant token. */
  check(authorization: string | undefined): number | undefined;
  /** Every issued token becomes invalid, as if all had expired. */
  expire(): void;
  /** Token requests since the last resetCount(). */
  requests(): number;
  resetCount(): void;
}

export function createAuth(app: { appId: string; appSecret: string; ttlMs: number }): Auth {
  const tokens = new Map<string, number>(); // token -> expiry (epoch ms)
  let current: string | undefined;
  let requests = 0;

  function check(authorization: string | undefined): number | undefined {
    if (!authorization?.startsWith("Bearer ")) return 99991661;
    const token = authorization.slice("Bearer ".length).trim();
    if (token === "") return 99991661;
    if (token.startsWith("t-")) {
      const expiry = tokens.get(token);
      return expiry !== undefined && expiry > Date.now() ? undefined : 99991663;
    }
    if (token.startsWith("u-") || token.startsWith("eyJ")) return 99991668; // a user token we never issued
    return 99991671;
  }

  async function issue(ctx: Ctx) {
    requests++;
    const body = await readJson(ctx.req);
    const id = body?.app_id;
    const secret = body?.app_secret;
    if (typeof id !== "string" || typeof secret !== "string" || !id || !secret) return reply(ctx, 10003);
    if (id !== app.appId) return reply(ctx, 10014, { msg: "app id not exists" });
    if (secret !== app.appSecret) return reply(ctx, 10014, { msg: "app secret invalid" });
    const now = Date.now();
    const currentExpiry = current ? tokens.get(current) : undefined;
    if (current && currentExpiry !== undefined && currentExpiry - now > TOKEN_REUSE_MS) {
      const expire = Math.floor((currentExpiry - now) / 1000);
      return reply(ctx, 0, { msg: "ok", tenant_access_token: current, expire });
    }
    current = `t-${randomAlnum(40)}`;
    tokens.set(current, now + app.ttlMs);
    reply(ctx, 0, { msg: "ok", tenant_access_token: current, expire: Math.floor(app.ttlMs / 1000) });
  }

  return {
    route: {
      method: "POST",
      path: "/open-apis/auth/v3/tenant_access_token/internal",
      endpoint: "token",
      anonymous: true,
      handle: issue,
    },
    check,
    expire: () => {
      tokens.clear();
      current = undefined;
    },
    requests: () => requests,
    resetCount: () => void (requests = 0),
  };
}
