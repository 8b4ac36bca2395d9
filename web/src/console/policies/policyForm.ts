// The policy editor's state, kept apart from React so that it can be tested: the form as the
// user types it, the PolicyWrite body built from it, the checks made before sending (the API
// checks again and is the judge), the API's field reasons mapped back onto the form, and the
// policies a 409 names as contradicted.
import type { Schemas } from "../../api/client";
import type { Shown } from "../../api/problem";
import { emptyGrant, fromGrant, toGrant, validateGrant, type GrantFieldForm } from "../grants/grantForm";
import { approvalBody, approvalFrom, emptyApproval, validateApproval, type ApprovalForm } from "./approvalForm";

export type Policy = Schemas["Policy"];
export type PolicyWrite = Schemas["PolicyWrite"];
export type Weekday = Schemas["Weekday"];

export const weekdays: Weekday[] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

export interface ApplicationForm {
  process: string;
  commandLine: string;
}

export interface WindowForm {
  days: Weekday[];
  from: string;
  to: string;
}

// PolicyForm holds every value as typed: lists one entry per line, numbers and times as text.
export interface PolicyForm {
  name: string;
  enabled: boolean;
  priority: string;
  action: "allow" | "deny";
  certificates: string;
  // groups are the chosen group ids ("*" is every certificate), in the order chosen.
  groups: string[];
  users: string;
  roles: string;
  where: ApplicationForm[];
  timeZone: string;
  windows: WindowForm[];
  notBefore: string;
  notAfter: string;
  requireTimestamp: boolean;
  grant: GrantFieldForm;
  approval: ApprovalForm;
}

export function emptyForm(): PolicyForm {
  return {
    name: "",
    enabled: true,
    priority: "0",
    action: "allow",
    certificates: "",
    groups: [],
    users: "",
    roles: "",
    where: [],
    timeZone: "UTC",
    windows: [],
    notBefore: "",
    notAfter: "",
    requireTimestamp: false,
    grant: emptyGrant(),
    approval: emptyApproval(),
  };
}

// fromPolicy fills the form with a policy as read, so that an edit starts from what is stored.
export function fromPolicy(p: Policy): PolicyForm {
  return {
    name: p.name,
    enabled: p.enabled,
    priority: String(p.priority),
    action: p.action,
    certificates: (p.what.certificates ?? []).join("\n"),
    groups: [...(p.what.groups ?? [])],
    users: (p.who.users ?? []).join("\n"),
    roles: (p.who.roles ?? []).join("\n"),
    where: (p.where ?? []).map((a) => ({ process: a.process, commandLine: a.commandLine ?? "" })),
    timeZone: p.when?.timeZone ?? "UTC",
    windows: (p.when?.windows ?? []).map((w) => ({ days: [...w.days], from: w.from, to: w.to })),
    notBefore: p.when?.notBefore ?? "",
    notAfter: p.when?.notAfter ?? "",
    requireTimestamp: p.requireTimestamp ?? false,
    grant: fromGrant(p.grant),
    approval: approvalFrom(p.approval),
  };
}

// lines splits a list field: one entry per line (commas also separate), blanks dropped.
export function lines(s: string): string[] {
  return s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

// toBody builds the PolicyWrite the API takes. Every member is sent, since PUT replaces the
// policy whole and a member left out would take its default rather than its current value.
// `when` is sent only when the form has a schedule; without one the policy applies any time.
export function toBody(f: PolicyForm): PolicyWrite {
  const body: PolicyWrite = {
    name: f.name.trim(),
    enabled: f.enabled,
    priority: Number(f.priority.trim()),
    action: f.action,
    what: { certificates: lines(f.certificates), groups: f.groups },
    who: { users: lines(f.users), roles: lines(f.roles) },
    where: f.where.map((a) =>
      a.commandLine.trim() === "" ? { process: a.process } : { process: a.process, commandLine: a.commandLine },
    ),
  };
  // Its default is false, so leaving it out when false replaces the policy the same way.
  if (f.requireTimestamp) body.requireTimestamp = true;
  const when: NonNullable<PolicyWrite["when"]> = {};
  if (f.windows.length > 0) {
    when.timeZone = f.timeZone.trim();
    when.windows = f.windows.map((w) => ({ days: weekdays.filter((d) => w.days.includes(d)), from: w.from, to: w.to }));
  }
  if (f.notBefore.trim() !== "") when.notBefore = f.notBefore.trim();
  if (f.notAfter.trim() !== "") when.notAfter = f.notAfter.trim();
  if (Object.keys(when).length > 0) body.when = when;
  const grant = toGrant(f.grant);
  if (grant) body.grant = grant;
  const approval = approvalBody(f.approval);
  if (approval) body.approval = approval;
  return body;
}

const clock = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const clockEnd = /^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;
// An RFC 3339 time with a zone, as the API's date-time members take.
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

// validate makes the checks that need no server, named as the API names its invalid-params
// (so both land beside the same field); an empty result means the form may be sent.
export function validate(f: PolicyForm): Record<string, string> {
  const e: Record<string, string> = {};
  const name = f.name.trim();
  if (name === "") e.name = "Give the policy a name.";
  else if (new TextEncoder().encode(name).length > 200) e.name = "At most 200 bytes.";
  const prio = f.priority.trim();
  if (!/^-?\d+$/.test(prio) || Math.abs(Number(prio)) > 1000000) e.priority = "A whole number from -1000000 to 1000000.";
  if (lines(f.certificates).length + f.groups.length === 0) e.what = "Name at least one certificate or group (or every certificate).";
  if (lines(f.users).length + lines(f.roles).length === 0) e.who = "Name at least one user or role.";
  for (const r of lines(f.roles)) {
    if (r.startsWith("portal:") && !["portal:Admin", "portal:User", "portal:Viewer"].includes(r)) {
      e["who.roles"] = `${r} is not a portal role: write portal:Admin, portal:User or portal:Viewer.`;
    }
  }
  if (f.where.length > 20) e.where = "At most 20 applications.";
  f.where.forEach((a, i) => {
    if (a.process.trim() === "") e[`where[${i}].process`] = "A pattern of the process name is required (.* is any).";
  });
  if (f.windows.length > 0 && f.timeZone.trim() === "") e["when.timeZone"] = "A time zone is required with windows, like Europe/Berlin or UTC.";
  f.windows.forEach((w, i) => {
    if (w.days.length === 0) e[`when.windows[${i}].days`] = "Pick at least one day.";
    if (!clock.test(w.from)) e[`when.windows[${i}].from`] = "HH:MM, 00:00 to 23:59.";
    if (!clockEnd.test(w.to)) e[`when.windows[${i}].to`] = "HH:MM, 00:01 to 24:00.";
    else if (clock.test(w.from) && w.to <= w.from) e[`when.windows[${i}].to`] = "Must be after the start; split a window that crosses midnight in two.";
  });
  for (const k of ["notBefore", "notAfter"] as const) {
    const v = f[k].trim();
    if (v !== "" && (!rfc3339.test(v) || Number.isNaN(Date.parse(v)))) e[`when.${k}`] = "An RFC 3339 time with a zone, like 2026-12-31T23:59:59Z.";
  }
  if (!e["when.notBefore"] && !e["when.notAfter"] && f.notBefore.trim() && f.notAfter.trim() && Date.parse(f.notAfter) < Date.parse(f.notBefore)) {
    e["when.notAfter"] = "Must not be before the start.";
  }
  Object.assign(e, validateGrant(f.grant, f.action));
  Object.assign(e, validateApproval(f.approval, f.action));
  return e;
}

// fieldErrors maps the API's invalid-params onto the form's fields. The list fields are one
// textarea each, so `what.certificates[2]` lands on `what.certificates` naming the line; the
// groups are chosen, so `what.groups[1]` names the group groupLabel gives for the entry; the
// rows of where and when keep their index, as the form has one field per row.
export function fieldErrors(fields: Record<string, string>, groupLabel: (i: number) => string = (i) => `Group ${i + 1}`): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, reason] of Object.entries(fields)) {
    const m = /^(what\.certificates|what\.groups|who\.users|who\.roles)\[(\d+)\]$/.exec(name);
    const key = m ? m[1] : name;
    const text = !m ? reason : m[1] === "what.groups" ? `${groupLabel(Number(m[2]))}: ${reason}` : `Line ${Number(m[2]) + 1}: ${reason}`;
    out[key] = out[key] ? `${out[key]} ${text}` : text;
  }
  return out;
}

const policyIdPattern = /\bpol_(?:[a-z2-7]{26}|default)\b/g;

// conflictingPolicies reads which policies a 409 says this one could contradict. The API
// names them in `detail` ("At priority 10 this policy could contradict pol_…, pol_…: …", see
// lib/policy checkDeployment); a 409 for a limit or a concurrent write names none. The policy
// being edited is left out, in case a message ever names it.
export function conflictingPolicies(p: Shown | null, self?: string): string[] {
  if (!p || p.status !== 409 || !p.detail || !/contradict/i.test(p.detail)) return [];
  const ids = p.detail.match(policyIdPattern) ?? [];
  return [...new Set(ids)].filter((id) => id !== self);
}

// byPriority orders policies as they decide: highest priority first and, at equal priority,
// deny before allow (deny wins ties), then by name.
export function byPriority(a: Policy, b: Policy): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.action !== b.action) return a.action === "deny" ? -1 : 1;
  return a.name.localeCompare(b.name);
}

function list(xs: string[] | undefined, none: string): string {
  const v = xs ?? [];
  if (v.length === 0) return none;
  if (v.length <= 3) return v.join(", ");
  return `${v.slice(0, 3).join(", ")} and ${v.length - 3} more`;
}

const dayShort: Record<Weekday, string> = {
  monday: "Mon",
  tuesday: "Tue",
  wednesday: "Wed",
  thursday: "Thu",
  friday: "Fri",
  saturday: "Sat",
  sunday: "Sun",
};

// summary says a policy's What, Who, Where and When in a few words each, for the list.
export function summary(p: Policy, groupName: (id: string) => string = (id) => id): { what: string; who: string; where: string; when: string } {
  const certs = p.what.certificates ?? [];
  const groups = (p.what.groups ?? []).map((g) => (g === "*" ? "every certificate" : `group ${groupName(g)}`));
  const what = list([...certs, ...groups], "nothing");
  const roles = (p.who.roles ?? []).map((r) => `role ${r}`);
  const who = list([...(p.who.users ?? []), ...roles], "nobody");
  const where = p.where.length === 0 ? "any application" : list(p.where.map((a) => a.process + (a.commandLine ? ` (${a.commandLine})` : "")), "");
  const parts: string[] = [];
  const w = p.when;
  if (w?.windows && w.windows.length > 0) {
    parts.push(w.windows.map((x) => `${x.days.map((d) => dayShort[d]).join(" ")} ${x.from}–${x.to}`).join("; ") + ` ${w.timeZone ?? ""}`.trimEnd());
  }
  if (w?.notBefore) parts.push(`from ${w.notBefore}`);
  if (w?.notAfter) parts.push(`until ${w.notAfter}`);
  return { what, who, where, when: parts.length ? parts.join(", ") : "any time" };
}
