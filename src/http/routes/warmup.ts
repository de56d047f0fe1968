import type { FastifyPluginAsync } from "fastify";
import { notFound } from "../../domain/problem.js";
import { toIso } from "../../domain/time.js";
import {
  dailyTarget,
  progressPercent,
  rampTime,
  WARMUP_DAYS,
  warmupDay,
  warmupDayStart,
  warmupState,
} from "../../domain/warmup.js";
import { getPhoneNumber, healthByNumber } from "../../store/phone-numbers-repo.js";
import type { RouteDeps } from "../deps.js";
import { problemResponses } from "../schemas/common.js";

export const warmupRoutes: FastifyPluginAsync<RouteDeps> = async (app, { store }) => {
  app.get<{ Params: { phoneNumberId: string } }>(
    "/phone-numbers/:phoneNumberId/warmup",
    {
      schema: {
        tags: ["PhoneNumbers"],
        summary: "Warmup progress of a number",
        params: {
          type: "object",
          required: ["phoneNumberId"],
          properties: { phoneNumberId: { type: "string", minLength: 1, maxLength: 200 } },
        },
        response: {
          200: {
            type: "object",
            properties: {
              phoneNumberId: { type: "string" },
              enabled: { type: "boolean" },
              state: { type: "string" },
              healthStatus: { type: "string" },
              startedAt: { type: ["string", "null"], format: "date-time" },
              day: { type: "integer" },
              totalDays: { type: "integer" },
              dailyTarget: { type: "integer" },
              sentToday: { type: "integer" },
              totalSent: { type: "integer" },
              lastSentAt: { type: ["string", "null"], format: "date-time" },
              progressPercent: { type: "integer" },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { organizationId } = request.auth;
      const number = await getPhoneNumber(store.db, organizationId, request.params.phoneNumberId);
      if (!number) throw notFound(`Phone number '${request.params.phoneNumberId}'`);
      // A paused ramp (the number cannot send) is shown as it stood when it paused.
      const now = rampTime(number.warmup_paused_at, Date.now());
      const enabled = number.warmup_enabled === 1;
      const day = number.warmup_started_at === null ? 0 : warmupDay(number.warmup_started_at, now);
      const today = number.warmup_started_at === null ? null : warmupDayStart(number.warmup_started_at, now);
      return {
        phoneNumberId: number.id,
        enabled,
        state: warmupState(enabled, number.warmup_started_at, now),
        healthStatus:
          (await healthByNumber(store.db, organizationId, Date.now())).get(number.id) ?? "Healthy",
        startedAt: toIso(number.warmup_started_at),
        day,
        totalDays: WARMUP_DAYS,
        // Nothing more is sent once the number is Ready.
        dailyTarget: enabled && day < WARMUP_DAYS ? dailyTarget(day) : 0,
        sentToday: number.warmup_day_start === today ? number.warmup_sent_today : 0,
        totalSent: number.warmup_total_sent,
        lastSentAt: toIso(number.warmup_last_sent_at),
        progressPercent: enabled ? progressPercent(number.warmup_started_at, now) : 0,
      };
    },
  );
};
