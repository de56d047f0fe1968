import "fastify";
import { ProblemError } from "../domain/problem.js";
import { invalidSourceKey } from "../domain/sources.js";
import type { ApiKeyOwner } from "../store/orgs-repo.js";
import { hashApiKey } from "../store/orgs-repo.js";
import { RateLimiter } from "./rate-limit.js";

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
    const key = parseBearer(header);
    if (!key) throw unauthorized("The Authorization header must be `Bearer sk_…`.");
    const hash = hashApiKey(key.value);
    if (key.isSourceKey) {
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

  /** The organization key's owner when this process has it cached, without asking the database. */
  cachedOwner(header: string | undefined): ApiKeyOwner | undefined {
    const key = header === undefined ? null : parseBearer(header);
    if (!key || key.isSourceKey) return undefined;
    const cached = this.cache.get(hashApiKey(key.value));
    return cached && cached.expires > Date.now() ? cached.owner : undefined;
  }
}

function parseBearer(header: string): { value: string; isSourceKey: boolean } | null {
  const match = /^Bearer\s+((sk_|lp_src_)[A-Za-z0-9_-]{10,200})\s*$/i.exec(header);
  return match ? { value: match[1]!, isSourceKey: match[2]!.toLowerCase() === "lp_src_" } : null;
}

/**
 * Throttles clients whose requests keep failing authentication, per client address: past the limit
 * in any 60 s, a request from that address is a 429 without a database lookup, unless it carries an
 * organization key this process has recently accepted (so a team sharing an address with a
 * misbehaving client keeps working). Keys are 256 random bits, so this is not about guessing them;
 * it keeps a client that sends bad keys in a loop from costing a database lookup per request.
 */
export class FailedAuthenticationGuard {
  private readonly failures: RateLimiter;

  constructor(
    private readonly authenticator: ApiKeyAuthenticator,
    failuresPerMinute: number,
  ) {
    // One-second slots (244 bytes per address), at most 10,000 addresses remembered.
    this.failures = new RateLimiter(
      failuresPerMinute,
      60_000,
      { who: "This client address", what: "failed authentications" },
      60,
      10_000,
    );
  }

  async authenticate(header: string | undefined, address: string): Promise<RequestAuth> {
    try {
      this.failures.check(address);
    } catch (refused) {
      const owner = this.authenticator.cachedOwner(header);
      if (owner) return owner;
      throw refused;
    }
    try {
      return await this.authenticator.authenticate(header);
    } catch (error) {
      if (error instanceof ProblemError && error.status === 401) this.countFailure(address);
      throw error;
    }
  }

  private countFailure(address: string): void {
    try {
      this.failures.hit(address);
    } catch {
      // Already at the limit (requests that passed the check together): this one still answers 401.
    }
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
