// Grants in the console, kept apart from React so that they can be tested: a policy's grant
// field (at most N signatures in a window) as typed and as the API takes it, the one-off grant
// form, and how a grant's count and window are said.
import type { Schemas } from "../../api/client";

export type PolicyGrant = Schemas["PolicyGrant"];
export type UserGrant = Schemas["UserGrant"];
export type UserGrantCreate = Schemas["UserGrantCreate"];

// GrantFieldForm is a policy's grant as typed: on says whether the policy counts its
// signatures; used is the count read with the policy (shown, never sent).
export interface GrantFieldForm {
  on: boolean;
  max: string;
  from: string;
  to: string;
  used?: number;
}

export function emptyGrant(): GrantFieldForm {
  return { on: false, max: "", from: "", to: "" };
}

// fromGrant fills the field with a policy's grant as read.
export function fromGrant(g: PolicyGrant | undefined): GrantFieldForm {
  if (!g) return emptyGrant();
  return { on: true, max: String(g.maxSignatures), from: g.window?.from ?? "", to: g.window?.to ?? "", used: g.used };
}

// toGrant is the grant member of PolicyWrite (undefined: the policy counts nothing).
export function toGrant(f: GrantFieldForm): PolicyGrant | undefined {
  if (!f.on) return undefined;
  const g: PolicyGrant = { maxSignatures: Number(f.max.trim()) };
  const from = f.from.trim();
  const to = f.to.trim();
  if (from !== "" || to !== "") {
    g.window = {};
    if (from !== "") g.window.from = from;
    if (to !== "") g.window.to = to;
  }
  return g;
}

// An RFC 3339 time with a zone, as the API's date-time members take.
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

// checkWindow adds the errors of a count and window under prefix (the API's field names).
function checkCount(e: Record<string, string>, prefix: string, max: string, from: string, to: string) {
  const m = max.trim();
  if (!/^\d+$/.test(m) || Number(m) < 1 || Number(m) > 100000000) e[prefix + "maxSignatures"] = "A whole number of signatures from 1 to 100000000.";
  for (const [k, v] of [["from", from.trim()], ["to", to.trim()]] as const) {
    if (v !== "" && (!rfc3339.test(v) || Number.isNaN(Date.parse(v)))) e[prefix + k] = "An RFC 3339 time with a zone, like 2026-12-31T23:59:59Z; empty for open.";
  }
  if (!e[prefix + "from"] && !e[prefix + "to"] && from.trim() && to.trim() && Date.parse(to) <= Date.parse(from)) e[prefix + "to"] = "Must be after the start.";
}

// validateGrant checks the grant field of a policy whose action is action, with the API's
// names ("grant.maxSignatures", ...); {} when it may be sent.
export function validateGrant(f: GrantFieldForm, action: "allow" | "deny"): Record<string, string> {
  const e: Record<string, string> = {};
  if (!f.on) return e;
  if (action !== "allow") e.grant = "Only an allow policy can count its signatures.";
  checkCount(e, "grant.", f.max, f.from, f.to);
  return e;
}

// UserGrantForm is the one-off grant form as typed.
export interface UserGrantForm {
  userId: string;
  certificateId: string;
  max: string;
  from: string;
  to: string;
}

export function emptyUserGrant(): UserGrantForm {
  return { userId: "", certificateId: "", max: "1", from: "", to: "" };
}

// validateUserGrant checks the one-off grant form with the API's field names.
export function validateUserGrant(f: UserGrantForm): Record<string, string> {
  const e: Record<string, string> = {};
  if (f.userId.trim() === "") e.userId = "Name the user who may sign.";
  if (f.certificateId.trim() === "") e.certificateId = "Name the certificate.";
  checkCount(e, "", f.max, f.from, f.to);
  return e;
}

// toUserGrant is the body of POST /console/grants.
export function toUserGrant(f: UserGrantForm): UserGrantCreate {
  const body: UserGrantCreate = { userId: f.userId.trim(), certificateId: f.certificateId.trim(), maxSignatures: Number(f.max.trim()) };
  if (f.from.trim() !== "") body.from = f.from.trim();
  if (f.to.trim() !== "") body.to = f.to.trim();
  return body;
}

// windowText says a grant's window: "any time", "from …", "until …" or "… to …".
export function windowText(from?: string, to?: string): string {
  if (!from && !to) return "any time";
  if (!to) return `from ${from}`;
  if (!from) return `until ${to}`;
  return `${from} to ${to}`;
}

// usageText says a count: "1 of 2 signatures used".
export function usageText(used: number, max: number): string {
  return `${used} of ${max} signature${max === 1 ? "" : "s"} used`;
}

const stateText: Record<UserGrant["state"], string> = {
  active: "Active",
  scheduled: "Not open yet",
  ended: "Ended",
  "used-up": "Used up",
  revoked: "Revoked",
};

// stateLabel says a one-off grant's state for people.
export function stateLabel(s: UserGrant["state"]): string {
  return stateText[s] ?? s;
}
