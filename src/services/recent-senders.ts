import type { SenderCandidate } from "../domain/sender-selection.js";

// The sender numbers this process has just chosen, per organization. Sends that arrive together
// read the numbers' last use before any of them is written (they are even written in one batch),
// so without this every one of them takes the same least recently used number: a burst of new
// leads goes out through one number, into its carrier's per-number limits, while the rest idle.
// Each choice is stamped with a per-organization clock that moves at least 1 ms per choice, so
// choices made in the same millisecond still order. Other processes' choices reach us through the
// numbers' last_used_at, as before; this only closes the gap inside one process.

/** How long a choice is remembered: longer than any batch takes to write its last use. */
const REMEMBER_MS = 60_000;
/** Organizations remembered at once; the least recently sending ones are forgotten first. */
const MAX_ORGANIZATIONS = 10_000;

interface OrganizationChoices {
  /** The latest stamp given out: never behind the wall clock it was given at. */
  clock: number;
  chosenAt: Map<string, number>;
}

export class RecentSenderChoices {
  private readonly organizations = new Map<string, OrganizationChoices>();

  /** The candidates, each number's last use raised to this process's latest choice of it. */
  apply(organizationId: string, candidates: SenderCandidate[], now: number): SenderCandidate[] {
    const org = this.organizations.get(organizationId);
    if (!org) return candidates;
    if (now - org.clock > REMEMBER_MS) {
      this.organizations.delete(organizationId);
      return candidates;
    }
    return candidates.map((c) => {
      const chosenAt = org.chosenAt.get(c.id);
      return chosenAt !== undefined && chosenAt > (c.lastUsedAt ?? -1) ? { ...c, lastUsedAt: chosenAt } : c;
    });
  }

  /** Notes that `numberId` was just chosen (call it before the next choice can be made). */
  record(organizationId: string, numberId: string, now: number): void {
    const org = this.organizations.get(organizationId) ?? { clock: -Infinity, chosenAt: new Map() };
    org.clock = Math.max(now, org.clock + 1);
    org.chosenAt.set(numberId, org.clock);
    // Re-inserted last, so the Map's first entry is the organization that chose longest ago.
    this.organizations.delete(organizationId);
    this.organizations.set(organizationId, org);
    if (this.organizations.size > MAX_ORGANIZATIONS) {
      const oldest = this.organizations.keys().next().value;
      if (oldest !== undefined) this.organizations.delete(oldest);
    }
  }
}
