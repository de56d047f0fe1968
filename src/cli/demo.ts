import type { Kysely } from "kysely";
import type { LeadRequestBody } from "../domain/lead.js";
import { normalizeSourceRequest } from "../domain/sources.js";
import { createLead, receiveLead, updateLead } from "../services/leads.js";
import { createNote } from "../services/notes.js";
import { createSource } from "../services/sources.js";
import { DEFAULT_STARTING_CREDIT_MICROS } from "../store/billing-repo.js";
import { getConversationForLead } from "../store/leads-repo.js";
import { type CreatedOrganization, createOrganization } from "../store/orgs-repo.js";
import type { Database } from "../store/schema.js";

// A small, realistic demo organization: leads from a few sources (two of them delivered with a lead
// source's key), their conversations, notes and lead updates, so a new user sees a populated
// timeline on the first request.

const PEOPLE: Array<[string, string, string, string, string]> = [
  ["Maria", "Gonzalez", "(415) 555-0142", "maria.gonzalez@example.com", "America/Los_Angeles"],
  ["James", "Carter", "(212) 555-0187", "jcarter@example.net", "America/New_York"],
  ["Aisha", "Khan", "(312) 555-0163", "aisha.khan@example.org", "America/Chicago"],
  ["Tom", "Nguyen", "(206) 555-0119", "tom.nguyen@example.com", "America/Los_Angeles"],
  ["Priya", "Patel", "(512) 555-0175", "priya.p@example.com", "America/Chicago"],
  ["Daniel", "Okafor", "(617) 555-0131", "d.okafor@example.net", "America/New_York"],
  ["Sofia", "Rossi", "(303) 555-0148", "sofia.rossi@example.org", "America/Denver"],
  ["Ethan", "Brooks", "(602) 555-0190", "ethan.brooks@example.com", "America/Phoenix"],
];

const SOURCES = ["facebook-ads", "google-search", "partner-feed", "website-form"];
const PRODUCTS = ["auto-insurance", "home-insurance", "solar", "refinance"];
const NOTES = [
  "Called, no answer. Will text in the morning.",
  "Prefers contact after 5pm. Interested in bundling home + auto.",
  "Asked for a quote by email; sent the comparison sheet.",
  "Spouse is the decision maker — follow up Thursday.",
];

function leadRequest(i: number): LeadRequestBody {
  const [firstName, lastName, phone, email, timeZoneId] = PEOPLE[i % PEOPLE.length]!;
  return {
    contact: { firstName, lastName, email, phone: { number: phone, type: "mobile" }, timeZoneId },
    metadata: {
      utmSource: SOURCES[i % SOURCES.length],
      utmCampaign: `spring-${PRODUCTS[i % PRODUCTS.length]}`,
      product: PRODUCTS[i % PRODUCTS.length],
      price: 12 + (i % 5) * 3.5,
      trustedFormUrl: `https://cert.trustedform.com/demo${1000 + i}`,
    },
    customer: { isHomeowner: i % 2 === 0, creditScore: 640 + i * 17 },
    tagIds: [],
    tagNames: i % 3 === 0 ? ["hot"] : ["new"],
  };
}

export interface DemoOrganization extends CreatedOrganization {
  /** The key of the demo's "Website Form" lead source (lp_src_…). */
  sourceKey: string;
}

/** Seeds the demo organization; its wallet starts with `startingCreditMicros` (default 10 USD). */
export async function seedDemo(
  db: Kysely<Database>,
  name = "Demo Insurance Co",
  startingCreditMicros?: number,
): Promise<DemoOrganization> {
  const org = await createOrganization(db, name, {
    userName: "Demo Owner",
    ...(startingCreditMicros === undefined ? {} : { startingCreditMicros }),
  });
  const actor = { organizationId: org.organizationId, userId: org.userId };
  // The partner feed's two leads are charged 1 USD each when the demo's credit (10 USD unless
  // configured) leaves plenty for its messages; with less, the feed is free.
  const credit = startingCreditMicros ?? DEFAULT_STARTING_CREDIT_MICROS;
  const partner = await createSource(
    db,
    actor,
    normalizeSourceRequest({
      name: "Partner Feed",
      costPerLead: credit >= 5_000_000 ? 1 : null,
      defaultTagNames: ["partner"],
    }),
  );
  const form = await createSource(db, actor, normalizeSourceRequest({ name: "Website Form" }));
  const deliveredBy = [undefined, undefined, partner, form] as const;
  for (let i = 0; i < PEOPLE.length; i++) {
    const request = leadRequest(i);
    const source = deliveredBy[i % deliveredBy.length];
    const lead = source
      ? (await receiveLead(db, { ...actor, sourceId: source.id }, request)).lead
      : await createLead(db, actor, request);
    const conversation = await getConversationForLead(db, org.organizationId, lead.id);
    if (conversation && i % 2 === 0) await createNote(db, actor, conversation.id, NOTES[i % NOTES.length]!);
    if (i % 3 === 1) {
      await updateLead(db, actor, lead.id, {
        ...request,
        tagNames: ["qualified"],
        metadata: { ...request.metadata, price: 25 },
      });
    }
  }
  return { ...org, sourceKey: form.api_key! };
}

export function demoInstructions(org: DemoOrganization, baseUrl: string): string {
  const auth = `-H 'Authorization: Bearer ${org.apiKey}'`;
  return [
    "Demo organization ready.",
    `  organizationId: ${org.organizationId}`,
    `  API key:        ${org.apiKey}   (shown once; stored only as a hash)`,
    "",
    "Try it:",
    `  curl -s -X POST ${baseUrl}/events/all/my ${auth} -H 'Content-Type: application/json' -d '{"pageSize":5}'`,
    `  curl -s -X POST ${baseUrl}/leads/all/my ${auth} -H 'Content-Type: application/json' -d '{}'`,
    `  curl -s -X POST ${baseUrl}/conversations/my ${auth} -H 'Content-Type: application/json' -d '{}'`,
    `  curl -s -X POST ${baseUrl}/leads ${auth} -H 'Content-Type: application/json' \\`,
    `       -d '{"contact":{"firstName":"Ada","phone":{"number":"(415) 555-0144"}}}'`,
    "",
    "A vendor delivers leads with its source's key, which creates leads only (source 'Website Form'):",
    `  curl -s -X POST ${baseUrl}/leads -H 'Authorization: Bearer ${org.sourceKey}' -H 'Content-Type: application/json' \\`,
    `       -d '{"contact":{"firstName":"Grace","phone":{"number":"(415) 555-0143"}}}'`,
    "",
    `API reference: ${baseUrl}/docs`,
  ].join("\n");
}

/**
 * What `serve --demo-if-empty` (npm start) prints when the database already has organizations: the
 * demo's key was shown once, on the first start, so say how to get a key now.
 */
export function noDemoInstructions(): string {
  return [
    "The database already has organizations, so no demo was created. For an API key, run with this",
    "server's LEADTRAIL_DB or DATABASE_URL: npx leadtrail org create --name NAME (a new organization)",
    "or npx leadtrail key create --user usr_… (another key for a user).",
  ].join("\n");
}
