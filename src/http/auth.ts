import "fastify";
import { ProblemError } from "../domain/problem.js";
import type { ApiKeyOwner } from "../store/orgs-repo.js";
import { hashApiKey } from "../store/orgs-repo.js";

declare module "fastify" {
  interface FastifyRequest {
    auth: ApiKeyOwner;
  }
}

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;

/**
 * Resolves `Authorization: Bearer sk_…` to its organization. Lookups are cached per process for a
 * minute (keys are looked up by hash on every request, and revocation is rare), bounded in size.
 */
export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, { owner: ApiKeyOwner; expires: number }>();

  constructor(private readonly lookup: (keyHash: string) => Promise<ApiKeyOwner | null>) {}

  async authenticate(header: string | undefined): Promise<ApiKeyOwner> {
    if (!header) throw unauthorized("Send an organization API key as `Authorization: Bearer sk_…`.");
    const match = /^Bearer\s+(sk_[A-Za-z0-9_-]{10,200})\s*$/i.exec(header);
    if (!match) throw unauthorized("The Authorization header must be `Bearer sk_…`.");
    const hash = hashApiKey(match[1]!);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.expires > now) return cached.owner;
    const owner = await this.lookup(hash);
    if (!owner) throw unauthorized("The API key is not valid.");
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(hash, { owner, expires: now + CACHE_TTL_MS });
    return owner;
  }
}

function unauthorized(detail: string): ProblemError {
  return new ProblemError(401, "unauthorized", detail);
}
