import { createHmac, timingSafeEqual } from "node:crypto";

// Continuation tokens: the sort-key values of the last row on a page, bound to the query's order,
// signed with HMAC-SHA256 so that any change to the token is detected (a 400, never a 500).

export type CursorValue = string | number;

interface CursorPayload {
  /** Fingerprint of the resource and order the token belongs to. */
  q: string;
  /** Sort-key values of the last row returned, in order-key order. */
  v: CursorValue[];
}

const SIGNATURE_BYTES = 16;

export class CursorCodec {
  constructor(private readonly secret: Buffer) {}

  encode(fingerprint: string, values: CursorValue[]): string {
    const body = Buffer.from(JSON.stringify({ q: fingerprint, v: values } satisfies CursorPayload));
    return `${body.toString("base64url")}.${this.sign(body).toString("base64url")}`;
  }

  /** Returns the values, or null when the token is malformed, tampered with or for another query. */
  decode(token: string, fingerprint: string, arity: number): CursorValue[] | null {
    const dot = token.indexOf(".");
    if (dot <= 0 || token.length > 4096) return null;
    const body = Buffer.from(token.slice(0, dot), "base64url");
    const signature = Buffer.from(token.slice(dot + 1), "base64url");
    if (signature.length !== SIGNATURE_BYTES || !timingSafeEqual(signature, this.sign(body))) return null;
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      return null;
    }
    if (typeof payload !== "object" || payload === null) return null;
    const { q, v } = payload as Partial<CursorPayload>;
    if (q !== fingerprint || !Array.isArray(v) || v.length !== arity) return null;
    if (!v.every((x) => typeof x === "string" || (typeof x === "number" && Number.isFinite(x)))) return null;
    return v;
  }

  private sign(body: Buffer): Buffer {
    return createHmac("sha256", this.secret).update(body).digest().subarray(0, SIGNATURE_BYTES);
  }
}
