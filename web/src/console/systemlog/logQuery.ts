// The system log page's logic apart from React: the filters as typed, the query the API takes
// and the page's address holds, and the name of a downloaded export.
import type { Schemas } from "../../api/client";

export type Section = Schemas["LogSection"];

// sections are the API's sections (LogSection) with what the page calls them; the type keeps
// the list to the API's values.
export const sections: { value: Section; label: string }[] = [
  { value: "login", label: "Logins" },
  { value: "certificates", label: "Certificates" },
  { value: "groups", label: "Certificate groups" },
  { value: "policies", label: "Policies" },
  { value: "users", label: "Users" },
  { value: "domains", label: "Domains" },
  { value: "roles", label: "Roles" },
  { value: "settings", label: "Settings" },
  { value: "deployment", label: "Deployment" },
  { value: "portal", label: "Portal users" },
  { value: "other", label: "Other" },
];

export function sectionLabel(s: string) {
  return sections.find((x) => x.value === s)?.label ?? s;
}

export interface LogFilters {
  // from and to as a datetime-local control gives them (the browser's time zone), or "".
  from: string;
  to: string;
  actor: string;
  action: string;
  section: "" | Section;
}

export const noLogFilters: LogFilters = { from: "", to: "", actor: "", action: "", section: "" };

// LogQuery is the filters as the API takes them, and as the page's address keeps them.
export interface LogQuery {
  from?: string;
  to?: string;
  actor?: string;
  action?: string;
  section?: Section;
}

const keys = ["from", "to", "actor", "action", "section"] as const;

// toQuery turns the filters as typed into the API's query: local times become RFC 3339 in UTC,
// empty filters are left out. A time that cannot be read is passed on as typed, so that the
// API's reason for it is shown beside the field.
export function toQuery(f: LogFilters): LogQuery {
  const q: LogQuery = {};
  for (const k of ["from", "to"] as const) {
    const v = f[k].trim();
    if (v === "") continue;
    const t = new Date(v);
    q[k] = Number.isNaN(t.getTime()) ? v : t.toISOString();
  }
  if (f.actor.trim()) q.actor = f.actor.trim();
  if (f.action.trim()) q.action = f.action.trim();
  if (f.section) q.section = f.section;
  return q;
}

// fromSearch reads the query from the page's address. A section the page does not know is
// kept as it is, for the API to refuse by name.
export function fromSearch(p: URLSearchParams): LogQuery {
  const q: LogQuery = {};
  for (const k of keys) {
    const v = p.get(k);
    if (v) (q as Record<string, string>)[k] = v;
  }
  return q;
}

// toSearch is the address's query of q, in a fixed order.
export function toSearch(q: LogQuery): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of keys) {
    const v = q[k];
    if (v) p.set(k, v);
  }
  return p;
}

// toForm shows a query in the form: RFC 3339 times in the browser's time zone, to the second.
export function toForm(q: LogQuery): LogFilters {
  return {
    from: localInput(q.from),
    to: localInput(q.to),
    actor: q.actor ?? "",
    action: q.action ?? "",
    section: q.section ?? "",
  };
}

function localInput(v: string | undefined) {
  if (!v) return "";
  const t = new Date(v);
  if (Number.isNaN(t.getTime())) return v;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}T${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}`;
}

// filtered reports whether q narrows the log beyond a time range: then a page may be short.
export function filtered(q: LogQuery) {
  return Boolean(q.actor || q.action || q.section);
}

// exportName is the file name the API gave an export (Content-Disposition), or a fallback.
export function exportName(disposition: string | null, format: "csv" | "jsonl") {
  const m = disposition?.match(/filename="([^"/\\]+)"/);
  return m ? m[1] : `system-log.${format}`;
}
