import "fastify";
import { ProblemError } from "../domain/problem.js";
import { invalidSourceKey } from "../domain/sources.js";
import type { ApiKeyOwner } from "../store/orgs-repo.js";
import { hashApiKey } from "../store/orgs-repo.js";

declare module "fastify" {
  interface FastifyRequest {
    auth: RequestAuth;
  }
  interface FastifyContextConfig {
    /** The route takes a source key (lp_src_…) as well as an organization key: lead intake only. */
    acceptsSourceKey?: boolean;
  }
}

/** Who a request acts as: an organization key's user, or a source key's source and its user. */
export interface RequestAuth extends ApiKeyOwner {
  /** Set when the request came with a source key. */
  sourceId?: string;
}

export interface KeyLookups {
  organizationKey(keyHash: string): Promise<ApiKeyOwner | null>;
  sourceKey(keyHash: string): Promise<RequestAuth | null>;
}

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;

/**
 * Resolves `Authorization: Bearer sk_…` (an organization key) or `Bearer lp_src_…` (a source key) to
 * who the request acts as. Organization keys are cached per process for a minute (they are looked up
 * on every request, and revocation is rare), bounded in size. Source keys are not cached: a source
 * disabled, deleted or given a new key must stop its traffic at once, and intake is not a hot path.
 */
export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, { owner: ApiKeyOwner; expires: number }>();

  constructor(private readonly lookups: KeyLookups) {}

  async authenticate(header: string | undefined): Promise<RequestAuth> {
    if (!header) throw unauthorized("Send an organization API key as `Authorization: Bearer sk_…`.");
    const match = /^Bearer\s+((sk_|lp_src_)[A-Za-z0-9_-]{10,200})\s*$/i.exec(header);
    if (!match) throw unauthorized("The Authorization header must be `Bearer sk_…`.");
    const hash = hashApiKey(match[1]!);
    if (match[2]!.toLowerCase() === "lp_src_") {
      const source = await this.lookups.sourceKey(hash);
      if (!source) throw invalidSourceKey();
      return source;
    }
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.expires > now) return cached.owner;
    const owner = await this.lookups.organizationKey(hash);
    if (!owner) throw unauthorized("The API key is not valid.");
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(hash, { owner, expires: now + CACHE_TTL_MS });
    return owner;
  }
}

/** A source key on a route that is not lead intake. */
export function sourceKeyNotAllowed(): ProblemError {
  return new ProblemError(
    403,
    "source-key-not-allowed",
    "A source key (lp_src_…) can only create leads (POST /leads); use an organization API key (sk_…) here.",
  );
}

function unauthorized(detail: string): ProblemError {
  return new ProblemError(401, "unauthorized", detail);
}
