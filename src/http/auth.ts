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
  /**
   * The source key's hash: intake checks that it is still the source's key when the lead is written
   * (a re-keying may commit between authentication and then).
   */
  sourceKeyHash?: string;
}

export interface KeyLookups {
  organizationKey(keyHash: string): Promise<ApiKeyOwner | null>;
  sourceKey(keyHash: string): Promise<RequestAuth | null>;
}

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;
/** How long a key stays "in use" (FailedAuthenticationGuard) after its last accepted request. */
const IN_USE_MS = 10 * 60_000;

/** The clock, in ms since the epoch (tests set it). */
export type Clock = () => number;

/**
 * Resolves `Authorization: Bearer sk_…` (an organization key) or `Bearer lp_src_…` (a source key) to
 * who the request acts as. Organization keys are cached per process for a minute (they are looked up
 * on every request, and revocation is rare), bounded in size. Source keys are not cached: a source
 * disabled, deleted or given a new key must stop its traffic at once, and intake is not a hot path.
 * Either kind is remembered as in use while requests keep coming with it (isInUse).
 */
export class ApiKeyAuthenticator {
  /** Organization keys by hash: the owner (valid until `expires`) and when the key was last accepted. */
  private readonly cache = new Map<string, { owner: ApiKeyOwner; expires: number; lastUsed: number }>();
  /** Source keys by hash: when each was last accepted. */
  private readonly sourceKeysInUse = new Map<string, number>();

  constructor(
    private readonly lookups: KeyLookups,
    private readonly clock: Clock = Date.now,
  ) {}

  async authenticate(header: string | undefined): Promise<RequestAuth> {
    if (!header) throw unauthorized("Send an organization API key as `Authorization: Bearer sk_…`.");
    const key = parseBearer(header);
    if (!key) {
      // A bearer token of ours in form but not in length or alphabet is simply not a valid key.
      if (/^Bearer\s+(sk_|lp_src_)/i.test(header)) throw unauthorized("The API key is not valid.");
      throw unauthorized("The Authorization header must be `Bearer sk_…`.");
    }
    const hash = hashApiKey(key.value);
    const now = this.clock();
    if (key.isSourceKey) {
      const source = await this.lookups.sourceKey(hash);
      if (!source) {
        this.sourceKeysInUse.delete(hash); // revoked: no longer in use
        throw invalidSourceKey();
      }
      remember(this.sourceKeysInUse, hash, now);
      return { ...source, sourceKeyHash: hash };
    }
    const cached = this.cache.get(hash);
    if (cached && cached.expires > now) {
      cached.lastUsed = now;
      return cached.owner;
    }
    const owner = await this.lookups.organizationKey(hash);
    if (!owner) {
      this.cache.delete(hash); // revoked: no longer in use
      throw unauthorized("The API key is not valid.");
    }
    remember(this.cache, hash, { owner, expires: now + CACHE_TTL_MS, lastUsed: now });
    return owner;
  }

  /**
   * Whether the header's key was accepted within the last IN_USE_MS (sliding with each request), by
   * this process. Says nothing of whether it is still valid: authenticate decides that.
   */
  isInUse(header: string | undefined): boolean {
    const key = header === undefined ? null : parseBearer(header);
    if (!key) return false;
    const hash = hashApiKey(key.value);
    const lastUsed = key.isSourceKey ? this.sourceKeysInUse.get(hash) : this.cache.get(hash)?.lastUsed;
    return lastUsed !== undefined && this.clock() - lastUsed < IN_USE_MS;
  }
}

/** Sets a bounded map's entry as its newest, forgetting the oldest entry when full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= CACHE_MAX) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

function parseBearer(header: string): { value: string; isSourceKey: boolean } | null {
  const match = /^Bearer\s+((sk_|lp_src_)[A-Za-z0-9_-]{10,200})\s*$/i.exec(header);
  return match ? { value: match[1]!, isSourceKey: match[2]!.toLowerCase() === "lp_src_" } : null;
}

/**
 * Throttles clients whose requests keep failing authentication, per client address: past the limit
 * in any 60 s, a request from that address is a 429 without a database lookup, unless it carries a
 * key in use (accepted by this process in the last ten minutes, sliding): a team sharing an address
 * with a misbehaving client keeps working, and such a key is still checked as usual, so one revoked
 * meanwhile is refused. Keys are 256 random bits, so this is not about guessing them; it keeps a
 * client that sends bad keys in a loop from costing a database lookup per request.
 */
export class FailedAuthenticationGuard {
  private readonly failures: RateLimiter;

  constructor(
    private readonly authenticator: ApiKeyAuthenticator,
    failuresPerMinute: number,
    private readonly clock: Clock = Date.now,
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
    const now = this.clock();
    try {
      this.failures.check(address, now);
    } catch (refused) {
      if (!this.authenticator.isInUse(header)) throw refused;
    }
    try {
      return await this.authenticator.authenticate(header);
    } catch (error) {
      if (error instanceof ProblemError && error.status === 401) this.countFailure(address, now);
      throw error;
    }
  }

  private countFailure(address: string, now: number): void {
    try {
      this.failures.hit(address, now);
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
