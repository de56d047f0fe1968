import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { problemType, titleFor } from "../domain/problem.js";

/** How long a client may take to send one whole request (headers and body) before a 408. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Node's http server checks request deadlines on a timer (30 s by default), so a deadline is kept
 * within about half of itself rather than within up to 30 s more.
 */
export function connectionsCheckingInterval(requestTimeoutMs: number): number {
  return Math.min(30_000, Math.max(50, Math.floor(requestTimeoutMs / 2)));
}

/**
 * Errors Node's http server raises on a connection before any request reached Fastify: a request
 * not received in full within the request timeout (408), headers too large (431), bytes that are not
 * HTTP (400). They answer problem+json like every other error (Fastify's default answers a JSON
 * shape of its own), then the connection closes. No request was parsed, so there is no `instance`.
 */
export function clientErrorHandler(requestTimeoutMs: number) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    // A reset connection has no one left to answer.
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const [status, slug, detail] =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "request-timeout", `The request was not received in full within ${requestTimeoutMs} ms.`]
        : error.code === "HPE_HEADER_OVERFLOW"
          ? [431, "headers-too-large", "The request headers are larger than the server accepts."]
          : [400, "bad-request", "The request is not valid HTTP/1.1."];
    const body = JSON.stringify({ type: problemType(slug), title: titleFor(status), status, detail });
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n` +
          `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
