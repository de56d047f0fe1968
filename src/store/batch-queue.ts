import type { Transaction } from "kysely";
import { CommitOutcomeUnknownError } from "./commit-outcome.js";
import type { Transact } from "./group-commit.js";
import type { Database } from "./schema.js";

interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Handles items of the same kind together, as one unit of work of `transact` (normally a group
 * commit): many writes then cost a few statements in all instead of a few each. The unit is queued
 * when the first item arrives, so it keeps its place in line (an outcome stays ahead of a receipt
 * that comes after it), and it takes every item that arrived by the time it runs. `handle` answers
 * one result per item, in order, and must only touch the database (it may run twice). If a batch
 * fails, each of its items is tried again on its own, so one bad item fails alone; not when the
 * batch may have committed (CommitOutcomeUnknownError): its items would be written twice.
 */
export class BatchQueue<T, R> {
  private waiting: Waiting<T, R>[] = [];

  constructor(
    private readonly transact: Transact,
    private readonly handle: (trx: Transaction<Database>, items: T[]) => Promise<R[]>,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length === 1) void this.runBatch();
    });
  }

  private async runBatch(): Promise<void> {
    let batch: Waiting<T, R>[] | null = null;
    try {
      const results = await this.transact((trx) => {
        // Taken on the first run only: a group commit may run a unit again, with the same items.
        if (batch === null) {
          batch = this.waiting;
          this.waiting = [];
        }
        return this.handle(
          trx,
          batch.map((w) => w.item),
        );
      });
      for (const [i, w] of batch!.entries()) w.resolve(results[i]!);
    } catch (error) {
      // The unit may have failed before it ever ran (no connection): its items are still waiting.
      const failed: Waiting<T, R>[] = batch ?? this.waiting.splice(0);
      if (failed.length === 1 || error instanceof CommitOutcomeUnknownError) {
        for (const w of failed) w.reject(error);
        return;
      }
      for (const w of failed) {
        this.transact((trx) => this.handle(trx, [w.item])).then(
          (results) => w.resolve(results[0]!),
          w.reject,
        );
      }
    }
  }
}
