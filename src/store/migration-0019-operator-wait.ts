import { type Kysely, type Migration, sql } from "kysely";

// A refusal that is the deployment's to fix (Telnyx's 401, 402, 403, a wrong base URL) no longer
// spends a message's retries: the message waits, up to LEADTRAIL_OPERATOR_WAIT_HOURS from the first
// such refusal, which events.operator_wait_since holds. provider_breakers holds, per scope of such a
// refusal (the provider account, or one sender number), when the worker may next hand one message
// to the provider to see whether it was fixed (messaging/provider-breaker.ts): in the database, so
// that every worker process on it stops calling at once and only one of them probes. The partial
// index holds only the messages that waited for such a problem, for the release when it is fixed.
export const operatorWait: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`alter table events add column operator_wait_since bigint`.execute(db);
    await sql`create index events_operator_wait on events (next_attempt_at)
      where operator_wait_since is not null`.execute(db);
    await sql`create table provider_breakers (
      scope text primary key,
      opened_at bigint not null,
      probe_at bigint not null,
      interval_ms bigint not null,
      error_code text not null,
      error_message text not null,
      action text not null
    )`.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`drop table provider_breakers`.execute(db);
    await sql`drop index events_operator_wait`.execute(db);
    await sql`alter table events drop column operator_wait_since`.execute(db);
  },
};
