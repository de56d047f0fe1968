/**
 * At most `limit` tasks per key run at once; the others wait their turn, first come first served.
 * A finishing task hands its place straight to the next waiter, so none can overtake it.
 */
export class KeyedConcurrency {
  private readonly slots = new Map<string, { active: number; waiting: Array<() => void> }>();

  constructor(private readonly limit: number) {}

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { active: 0, waiting: [] };
      this.slots.set(key, slot);
    }
    if (slot.active < this.limit) slot.active++;
    else await new Promise<void>((resolve) => slot.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = slot.waiting.shift();
      if (next) next();
      else if (--slot.active === 0) this.slots.delete(key);
    }
  }

  /** Keys with a task running or waiting (idle keys are forgotten). */
  get busyKeys(): number {
    return this.slots.size;
  }
}
