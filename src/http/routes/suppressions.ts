import type { FastifyPluginAsync } from "fastify";
import type { RouteDeps } from "../deps.js";

export const suppressionsRoutes: FastifyPluginAsync<RouteDeps> = async (_app, _deps) => {};
