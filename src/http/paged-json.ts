import type { FastifyReply } from "fastify";

export interface Page<T extends object> {
  items: T[];
  pageSize: number;
  totalCount?: number | null | undefined;
  continuationToken?: string | null | undefined;
}

const OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(",");

/**
 * Sends a page of a list (PagedResultOf…) as JSON bytes built item by item, never as one string.
 * A page of 50 events is ~70k characters, and one character above U+00FF (a dash, a curly quote,
 * an emoji in an SMS) makes V8 store the whole string at two bytes a character: ~140 KB, which V8
 * puts in its large-object space, where it stays until a full GC. Under list load that was ~100 MB
 * of dead pages (the server passed 200 MB of RSS), and Fastify's Content-Length of such a string
 * (Buffer.byteLength) cost ~1 ms. Each item's JSON is small and dies young; the page's bytes live
 * outside the V8 heap. Items are serialized with the schema (`itemSchema`) as Fastify would, and
 * the route's response schema still documents the page.
 */
export function sendPage<T extends object>(
  reply: FastifyReply,
  itemSchema: Record<string, unknown>,
  page: Page<T>,
): FastifyReply {
  const serialize = reply.compileSerializationSchema(itemSchema);
  const parts: Buffer[] = [OPEN];
  for (const [i, item] of page.items.entries()) {
    if (i > 0) parts.push(COMMA);
    parts.push(Buffer.from(serialize(item as Record<string, unknown>)));
  }
  // The other properties, in the schema's order, as its serializer writes them (undefined: absent).
  const rest = JSON.stringify({
    pageSize: page.pageSize,
    totalCount: page.totalCount,
    continuationToken: page.continuationToken,
  });
  parts.push(Buffer.from(rest === "{}" ? "]}" : `],${rest.slice(1)}`));
  return reply.type("application/json; charset=utf-8").send(Buffer.concat(parts));
}
