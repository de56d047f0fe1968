// The Leadping subset's operationIds, by method and OpenAPI path: /openapi.json names each of these
// operations as Leadping's own document does, so a client generated from either has the same
// method names. leadtrail's own routes (webhooks, simulator, warmup, health) have none.

const OPERATION_IDS: Readonly<Record<string, string>> = {
  "GET /events/{eventId}": "Events_GetById",
  "GET /events/detail/{eventId}": "Events_GetDetailById",
  "POST /events/leads/{leadId}": "Events_GetAllForLead",
  "POST /events/conversations/{conversationId}": "Events_GetAllForConversation",
  "POST /events/organizations/{organizationId}": "Events_GetAllForOrganization",
  "POST /events/all/my": "Events_GetAllForCurrentUser",
  "POST /events/conversations/{conversationId}/notes": "Events_CreateNote",
  "GET /events/sms/{smsEventId}": "SmsEvents_GetById",
  "POST /events/sms/lead/{leadId}": "SmsEvents_GetByLeadId",
  "POST /events/sms/phone/{phoneNumber}": "SmsEvents_GetByPhoneNumber",
  "POST /events/sms/all/my": "SmsEvents_GetAllForCurrentUser",
  "POST /sms/send": "Sms_Send",
  "POST /sms/{smsEventId}/cancel": "Sms_CancelScheduled",
  "POST /leads": "Leads_CreateExternal",
  "GET /leads/{id}": "Leads_GetForCurrentUser",
  "PUT /leads/{id}": "Leads_Update",
  "POST /leads/all/my": "Leads_GetAllForCurrentUser",
  "POST /conversations/lead/{leadId}": "Conversations_GetConversationsByLead",
  "POST /conversations/my": "Conversations_GetAllForCurrentUser",
  "POST /phone-numbers": "PhoneNumbers_Create",
  "POST /phone-numbers/all/organization": "PhoneNumbers_GetAllForCurrentOrganization",
  "GET /phone-numbers/{phoneNumberId}": "PhoneNumbers_Get",
  "PUT /phone-numbers/{phoneNumberId}": "PhoneNumbers_Update",
  "DELETE /phone-numbers/{phoneNumberId}": "PhoneNumbers_Delete",
  "POST /phone-numbers/outgoing/conversation/{conversationId}": "PhoneNumbers_GetOutgoingForConversation",
  "POST /phone-numbers/outgoing/new": "PhoneNumbers_GetOutgoingForNewOutbound",
  "POST /phone-numbers/outgoing/conversation/{conversationId}/override":
    "PhoneNumbers_SetConversationOverride",
  "DELETE /phone-numbers/outgoing/conversation/{conversationId}/override":
    "PhoneNumbers_ClearConversationOverride",
  "POST /suppressions": "Suppressions_Suppress",
  "POST /suppressions/release": "Suppressions_Release",
  "POST /suppressions/check": "Suppressions_Check",
  "POST /suppressions/all/my": "Suppressions_GetAllForCurrentOrganization",
  "GET /suppressions/{id}": "Suppressions_Get",
  "POST /sources": "Sources_Create",
  "GET /sources/{id}": "Sources_Get",
  "PUT /sources/{id}": "Sources_Update",
  "DELETE /sources/{id}": "Sources_Delete",
  "POST /sources/all/my": "Sources_GetAllForCurrentUser",
  "POST /usage/all/my": "Usage_GetAllForCurrentOrganization",
  "GET /usage/summary/my": "Usage_GetSummaryForCurrentOrganization",
  "GET /wallets/me": "Wallets_GetForCurrentOrganization",
};

/** The operationId of a route (Fastify's `:param` path), or undefined for leadtrail's own routes. */
export function leadpingOperationId(method: string, fastifyUrl: string): string | undefined {
  const path = fastifyUrl.replace(/:(\w+)/g, "{$1}");
  return OPERATION_IDS[`${method.toUpperCase()} ${path}`];
}
