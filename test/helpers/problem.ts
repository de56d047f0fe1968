import assert from "node:assert/strict";
import type { LightMyRequestResponse } from "fastify";

const PROBLEM_TYPE = /^application\/problem\+json\b/;

/** Asserts an RFC 9457 problem of `status` for `path`, whose detail mentions every one of `mentions`. */
export function assertProblem(
  res: LightMyRequestResponse,
  status: number,
  path: string,
  ...mentions: string[]
): Record<string, unknown> {
  const where = `${res.statusCode} for ${path}: ${res.body.slice(0, 600)}`;
  assert.equal(res.statusCode, status, where);
  assert.match(String(res.headers["content-type"]), PROBLEM_TYPE, where);
  const body = res.json() as Record<string, unknown>;
  assert.equal(typeof body.type, "string", where);
  assert.match(body.type as string, /^urn:leadtrail:problem:[a-z0-9-]+$/, where);
  assert.equal(typeof body.title, "string", where);
  assert.ok((body.title as string).length > 0, where);
  assert.equal(body.status, status, where);
  assert.equal(typeof body.detail, "string", where);
  assert.ok((body.detail as string).length > 0, where);
  assert.equal(body.instance, path.split("?")[0], where);
  for (const m of mentions)
    assert.ok((body.detail as string).includes(m), `detail should name '${m}': ${where}`);
  return body;
}
