import { isAscii } from "node:buffer";
import { badRequest, ProblemError } from "../domain/problem.js";

// Limits on what a JSON body may contain, checked once after parsing so that nothing downstream
// (serializers, diffing, the databases) meets input it cannot handle: nesting deeper than any
// contract shape needs (deep enough values overflow the stack of JSON.stringify), U+0000, which
// PostgreSQL text cannot store, lone UTF-16 surrogates ("\ud800" is valid JSON but no Unicode text:
// stored as UTF-8 it comes back as U+FFFD, so the record read would differ from the one answered),
// and prototype-poisoning keys (Fastify's parser refuses those first; this walk names where they sit).

export const MAX_BODY_DEPTH = 32;

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string of a body cannot be stored as sent, or null when it can. */
function unstorable(text: string): string | null {
  if (text.includes("\u0000")) return "must not contain the NUL character (U+0000)";
  if (LONE_SURROGATE.test(text)) return "must be valid Unicode text (it holds a lone UTF-16 surrogate)";
  return null;
}

function pathOf(parent: string, key: string, isArray: boolean): string {
  if (isArray) return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

/** A key that would poison Object.prototype if copied onto an object ("__proto__", "constructor.prototype"). */
function isPrototypeKey(key: string, value: unknown): boolean {
  return (
    key === "__proto__" ||
    (key === "constructor" && value !== null && typeof value === "object" && "prototype" in value)
  );
}

/**
 * Throws a 400 problem naming the field when the value nests too deep, holds a NUL or a lone
 * surrogate, or has a prototype-poisoning key.
 */
export function assertAcceptableBody(body: unknown): void {
  const stack: Array<[unknown, number, string]> = [[body, 1, ""]];
  while (stack.length > 0) {
    const [value, depth, path] = stack.pop()!;
    const field = path || "body";
    if (typeof value === "string") {
      const reason = unstorable(value);
      if (reason) throw badRequest(`${field} ${reason}.`, field);
    } else if (value !== null && typeof value === "object") {
      if (depth > MAX_BODY_DEPTH)
        throw badRequest(`${field} nests deeper than ${MAX_BODY_DEPTH} levels.`, field);
      const isArray = Array.isArray(value);
      for (const [key, child] of Object.entries(value)) {
        const childPath = pathOf(path, key, isArray);
        const reason = unstorable(key);
        if (reason) throw badRequest(`${childPath}: the key ${reason}.`, childPath);
        if (isPrototypeKey(key, child))
          throw badRequest(
            `${childPath}: the key '${key}' is not allowed in a JSON request body.`,
            childPath,
          );
        stack.push([child, depth + 1, childPath]);
      }
    }
  }
}

/**
 * The 400 for a body Fastify's (prototype-poisoning safe) parser refused: not JSON at all, or JSON
 * with a prototype-poisoning key, named with where it sits by the same walk as every other body.
 * JSON.parse keeps such keys as plain own properties, so walking its result is safe.
 */
export function invalidJsonProblem(text: string): Error {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return badRequest("The request body is not valid JSON.");
  }
  try {
    assertAcceptableBody(parsed);
  } catch (problem) {
    return problem as Error;
  }
  return badRequest("The JSON request body contains a key that is not allowed.");
}

/** A NUL can only reach a path parameter percent-encoded. */
export function assertAcceptableUrl(url: string): void {
  if (/%00/i.test(url)) throw badRequest("The request path contains the NUL character (U+0000).");
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A JSON body's text. JSON travels as UTF-8 (RFC 8259): a body declared in another charset is a 415,
 * and bytes that are not UTF-8 a 400, rather than stored with U+FFFD where a character was. US-ASCII
 * is UTF-8's first 128 characters, so it is taken when the bytes are ASCII; an empty `charset=` is
 * read as none.
 */
export function jsonBodyText(body: Buffer, contentType: string | undefined): string {
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType ?? "")?.[1]?.toLowerCase() || "utf-8";
  if (charset === "us-ascii" || charset === "ascii") {
    if (!isAscii(body)) {
      throw badRequest("The request body is declared US-ASCII but holds bytes that are not ASCII.");
    }
  } else if (charset !== "utf-8" && charset !== "utf8") {
    throw new ProblemError(
      415,
      "unsupported-media-type",
      `charset=${charset.slice(0, 40)} is not supported; send the JSON body in UTF-8.`,
    );
  }
  try {
    return UTF8.decode(body);
  } catch {
    throw badRequest("The request body is not valid UTF-8.");
  }
}
