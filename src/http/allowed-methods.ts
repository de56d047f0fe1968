import type { FastifyInstance } from "fastify";
import FindMyWay from "find-my-way";

/**
 * Which methods a concrete path answers, for 405 Method Not Allowed and its Allow header
 * (RFC 9110 §15.5.6). Fastify's own hasRoute/findRoute take a route pattern, not a request path, so
 * this keeps a second router (the same find-my-way Fastify routes with) that only records methods.
 */
export class AllowedMethods {
  private readonly router = FindMyWay({ maxParamLength: Number.MAX_SAFE_INTEGER, ignoreTrailingSlash: true });
  private readonly methods = new Set<FindMyWay.HTTPMethod>();

  /** Records every route registered on `app` from now on, in every plugin scope. Call before routes. */
  track(app: FastifyInstance): void {
    app.addHook("onRoute", (route) => {
      const methods = (Array.isArray(route.method) ? route.method : [route.method]) as FindMyWay.HTTPMethod[];
      for (const method of methods) this.methods.add(method);
      this.router.on(methods, route.url, () => {});
    });
  }

  /** The methods `path` answers, sorted; empty when no route matches it under any method. */
  for(path: string): string[] {
    return [...this.methods].filter((method) => this.router.find(method, path) !== null).sort();
  }
}
