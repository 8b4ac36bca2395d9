// Problems (RFC 9457, application/problem+json) as the API answers them, made readable: the
// title and detail for the page, and each invalid field's reason beside its field.
import type { Schemas } from "./client";

export type Problem = Schemas["Problem"];

export interface Shown {
  title: string;
  detail?: string;
  status?: number;
  fields: Record<string, string>;
}

export function isProblem(v: unknown): v is Problem {
  return typeof v === "object" && v !== null && "title" in v && "status" in v;
}

// show turns what openapi-fetch gives for a failed request (the parsed problem, or nothing
// when the answer was not JSON) into what the page shows.
export function show(error: unknown, response?: Response): Shown {
  if (isProblem(error)) {
    const fields: Record<string, string> = {};
    for (const p of error["invalid-params"] ?? []) fields[p.name] = p.reason;
    return { title: error.title ?? "Error", detail: error.detail, status: error.status, fields };
  }
  if (response && !response.ok) {
    return { title: `The service answered ${response.status}`, status: response.status, fields: {} };
  }
  return { title: "The service cannot be reached", detail: "Check your connection and try again.", fields: {} };
}
