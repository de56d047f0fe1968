// RFC 9457 problem details: the one error shape of the API. The store, messaging and services raise
// them, so they live here rather than in http/, which only renders them (http/errors.ts).

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: Record<string, string[]>;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function titleFor(status: number): string {
  return TITLES[status] ?? (status >= 500 ? "Server Error" : "Client Error");
}

/** Thrown anywhere below the HTTP layer; the HTTP error handler turns it into problem+json. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly detail: string,
    readonly errors?: Record<string, string[]>,
    readonly title: string = titleFor(status),
  ) {
    super(detail);
    this.name = "ProblemError";
  }
}

export function problemType(slug: string): string {
  return `urn:leadtrail:problem:${slug}`;
}

export function badRequest(detail: string, field?: string): ProblemError {
  return new ProblemError(400, "validation-error", detail, field ? { [field]: [detail] } : undefined);
}

export function notFound(what: string): ProblemError {
  return new ProblemError(404, "not-found", `${what} was not found.`);
}
