import type { FastifyPluginAsync } from "fastify";
import type { RouteDeps } from "../deps.js";

export const billingRoutes: FastifyPluginAsync<RouteDeps> = async (_app, _deps) => {};
