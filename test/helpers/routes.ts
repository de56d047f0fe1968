import type { FastifyInstance } from "fastify";

export interface RouteEntry {
  method: string;
  /** The route's path as registered, with :params ("/leads/:id"). */
  url: string;
}

// One line of Fastify's printRoutes tree: its indentation (4 characters a level), the part of the
// path it adds to its parent's, and the methods it answers (absent on a node that only groups).
const LINE = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]+)\))?$/;

/**
 * Every method and path the app answers, read from Fastify's own route table (printRoutes), so that
 * a route added later is listed without anyone having to name it.
 */
export function routeTable(app: FastifyInstance): RouteEntry[] {
  const prefixes: string[] = [];
  const routes: RouteEntry[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    if (line.trim() === "") continue;
    const match = LINE.exec(line);
    if (!match) throw new Error(`unexpected line in Fastify's route table: ${JSON.stringify(line)}`);
    const depth = match[1]!.length / 4;
    const url = (depth === 0 ? "" : prefixes[depth - 1]!) + match[2]!;
    prefixes[depth] = url;
    prefixes.length = depth + 1;
    for (const method of match[3]?.split(", ") ?? []) routes.push({ method, url });
  }
  return routes;
}
