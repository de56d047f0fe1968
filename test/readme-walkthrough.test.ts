import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { forEachEngine } from "./helpers/engines.js";
import { type PastedCall, runPasted } from "./helpers/pasted.js";
import {
  type CliDatabase,
  createCliDatabase,
  ensureBuilt,
  type RunningServer,
  startServer,
} from "./helpers/processes.js";

// README.md's Walk-through, pasted as a new user pastes it: its shell block runs unchanged with bash
// against a real server (the block's first line, `npm start`, is that server), and each answer is
// what its comment says. A walk-through that drifts from the API fails here.

before(ensureBuilt, { timeout: 180_000 });

/** The shell block under "## Walk-through". */
function walkThrough(): string {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const block = readme.split("\n## Walk-through\n")[1]?.match(/```sh\n([\s\S]*?)```/)?.[1];
  assert.ok(block, "README.md has a Walk-through with a sh block");
  return block;
}

/** The block as run here: the server is the test's, on the port it was given. */
function pastedAgainst(block: string, baseUrl: string): string {
  const lines = block.split("\n");
  assert.match(lines[0]!, /^npm install && npm start\b/, "the walk-through starts the server first");
  const api = lines.findIndex((line) => /^API=http:\/\/127\.0\.0\.1:3000\b/.test(line));
  assert.ok(api > 0, "the walk-through sets API to the default address");
  lines[api] = `API=${baseUrl}`;
  return lines.slice(1).join("\n");
}

/** The one call of the run to `method` a path matching `path`. */
function callTo(calls: PastedCall[], method: string, path: RegExp): PastedCall {
  const found = calls.filter((call) => call.method === method && path.test(call.path));
  assert.equal(found.length, 1, `one ${method} ${path} among ${calls.map((c) => `${c.method} ${c.path}`)}`);
  return found[0]!;
}

/** The message's status once it is delivered, or as it stands after `ms`. */
async function statusWithin(
  baseUrl: string,
  stdout: string,
  smsEventId: string,
  ms: number,
): Promise<string> {
  const key = stdout.match(/^KEY=(sk_\S+)$/m)?.[1];
  assert.ok(key, "the walk-through made a key");
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await fetch(`${baseUrl}/events/sms/${smsEventId}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const { status } = (await res.json()) as { status: string };
    if (status === "delivered" || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

forEachEngine("README walk-through", (engine) => {
  let db: CliDatabase;
  let server: RunningServer | undefined;
  before(async () => {
    db = await createCliDatabase(engine);
    // Quiet hours off: the walk-through's message must go out whatever the time of day here.
    server = await startServer(["--demo-if-empty"], { ...db.env, LEADTRAIL_QUIET_HOURS: "off" });
  });
  after(async () => {
    await server?.stop();
    await db?.cleanup();
  });

  test("every command works when pasted, and answers what its comment says", {
    timeout: 120_000,
  }, async () => {
    // The key the walk-through made, printed after it to follow its message.
    const script = `${pastedAgainst(walkThrough(), server!.baseUrl)}\nprintf '\\nKEY=%s\\n' "$KEY"`;
    const run = await runPasted(script, db.env);
    assert.equal(run.code, 0, `the walk-through stopped:\n${run.stderr}`);
    const { calls } = run;
    // body fields are checked one by one
    // biome-ignore lint/suspicious/noExplicitAny: a pasted command's answer, read as JSON
    const body = (call: PastedCall) => call.body as any;

    const [maria, vendorLead, ...more] = calls.filter(
      (call) => call.method === "POST" && call.path === "/leads",
    );
    assert.equal(more.length, 0, "two leads: Maria, and the vendor's");
    const lead = body(maria!);
    assert.equal(lead.contact.phone.number, "+14155550142", "the phone is normalized to E.164");
    const timeline = body(callTo(calls, "POST", /^\/events\/leads\/lead_/));
    assert.deepEqual(
      timeline.items.map((e: { activityType: string }) => e.activityType),
      ["LeadCreated"],
    );
    const conversation = body(callTo(calls, "POST", /^\/conversations\/lead\/lead_/)).items[0];
    assert.equal(conversation.leadId, lead.id, "a conversation is opened");
    const note = callTo(calls, "POST", /^\/events\/conversations\/conv_\w+\/notes$/);
    assert.equal(body(note).activityType, "Note", "the note is answered as an event record");
    assert.equal(body(callTo(calls, "GET", /^\/events\/evt_/)).id, body(note).id);
    assert.ok(
      body(callTo(calls, "GET", /^\/events\/detail\/evt_/)).transitions.length > 0,
      "the transition log",
    );
    assert.equal(body(callTo(calls, "PUT", /^\/leads\/lead_/)).contact.lastName, "Gonzales");

    const list = body(callTo(calls, "POST", /^\/events\/all\/my$/));
    assert.equal(list.totalCount, 1, "the count of the one LeadUpdated event");
    assert.equal(list.items[0].summary, "Lead updated: contact.lastName", "it names the changed field");

    assert.match(body(callTo(calls, "POST", /^\/sources$/)).apiKey, /^lp_src_/);
    // The vendor's lead, posted with the source's key, gets the source's default tag.
    assert.deepEqual(
      body(vendorLead!).tags.map((tag: { name: string }) => tag.name),
      ["Vendor"],
    );

    assert.equal(body(callTo(calls, "POST", /^\/phone-numbers$/)).routing.tenDlcCampaignId, "CABC123");
    const sent = body(callTo(calls, "POST", /^\/sms\/send$/));
    assert.equal(sent.status, "queued");
    const shown = body(callTo(calls, "GET", /^\/events\/sms\/evt_/));
    assert.ok(["queued", "sending", "sent", "delivered"].includes(shown.status), shown.status);
    assert.equal(await statusWithin(server!.baseUrl, run.stdout, sent.id, 5_000), "delivered");
    const inbound = callTo(calls, "POST", /^\/simulator\/inbound$/);
    assert.equal(body(inbound).conversationId, conversation.id, "Maria's answer lands on her conversation");
    const inbox = body(callTo(calls, "POST", /^\/conversations\/my$/)).items;
    const hers = inbox.find((c: { id: string }) => c.id === conversation.id);
    assert.equal(hers.status, "needs_reply");
  });
});
