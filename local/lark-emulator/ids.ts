// Identifiers shaped like Lark's, so clients that check shapes see realistic ones.

import { randomBytes, randomInt } from "node:crypto";

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

export function randomAlnum(n: number): string {
  return Array.from(randomBytes(n), (b) => ALNUM[b % ALNUM.length]).join("");
}

/** `digits` decimal digits, the first not 0: shaped like Lark's upload ids and import tickets. */
export function randomDecimal(digits: number): string {
  return String(randomInt(1, 10)) + Array.from({ length: digits - 1 }, () => randomInt(10)).join("");
}
