// The events page's logic apart from React: the filters as typed turned into the query the
// API takes, the pages of an export joined into one file, and the verification per lane.
import type { Schemas } from "../../api/client";

export interface Filters {
  // from and to as a datetime-local control gives them (the browser's time zone), or "".
  from: string;
  to: string;
  userId: string;
  certificateId: string;
  decision: "" | "allow" | "deny";
}

export const noFilters: Filters = { from: "", to: "", userId: "", certificateId: "", decision: "" };

export interface EventQuery {
  from?: string;
  to?: string;
  userId?: string;
  certificateId?: string;
  decision?: "allow" | "deny";
}

// toQuery turns the filters into the listing's query: local times become RFC 3339 in UTC,
// empty filters are left out. A time that cannot be read is passed on as typed, so that the
// API's reason for it is shown beside the field.
export function toQuery(f: Filters): EventQuery {
  const q: EventQuery = {};
  for (const k of ["from", "to"] as const) {
    const v = f[k].trim();
    if (v === "") continue;
    const t = new Date(v);
    q[k] = Number.isNaN(t.getTime()) ? v : t.toISOString();
  }
  if (f.userId.trim()) q.userId = f.userId.trim();
  if (f.certificateId.trim()) q.certificateId = f.certificateId.trim();
  if (f.decision) q.decision = f.decision;
  return q;
}

// joinPages joins the pages of an export into one file. Every CSV page starts with the header
// row, which is kept from the first page only; JSON lines pages are one event per line each.
export function joinPages(format: "csv" | "jsonl", pages: string[]): string {
  if (format === "jsonl") return pages.map((p) => (p === "" || p.endsWith("\n") ? p : p + "\n")).join("");
  return pages
    .map((p, i) => {
      const text = p === "" || p.endsWith("\n") ? p : p + "\n";
      if (i === 0) return text;
      const nl = text.indexOf("\n");
      return nl < 0 ? "" : text.slice(nl + 1);
    })
    .join("");
}

export interface Lane {
  lane: number;
  problems: Schemas["EventChainProblem"][];
}

// lanes groups a check's problems (a verification's, a full check's) by lane, 0 to 7, so that
// each lane says whether its chain is whole. A problem of a lane outside 0 to 7 (an item that
// could not be read) keeps its own entry.
export function lanes<T extends { problems: Schemas["EventChainProblem"][] }>(v: T): Lane[] {
  const out: Lane[] = Array.from({ length: 8 }, (_, lane) => ({ lane, problems: [] }));
  for (const p of v.problems) {
    let l = out.find((x) => x.lane === p.lane);
    if (!l) {
      l = { lane: p.lane, problems: [] };
      out.push(l);
    }
    l.problems.push(p);
  }
  return out;
}

// utc shows an RFC 3339 UTC time to the millisecond, without the T and the Z.
export function utc(at: string) {
  return at.replace("T", " ").replace(/(\.\d{3})\d*/, "$1").replace(/Z$/, "");
}
