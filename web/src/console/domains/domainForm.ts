// The domain forms' state, kept apart from React so that it can be tested: one form per kind
// (OIDC, SAML, CI workload identity) as the user types it, the DomainWrite body built from it,
// the checks made before sending (the API checks again and is the judge), and the API's field
// problems mapped back onto the form's controls.
import type { Schemas } from "../../api/client";
import { isProblem, show, type Shown } from "../../api/problem";

export type Domain = Schemas["Domain"];
export type Role = Schemas["Role"];
export type DomainWrite = Schemas["DomainWrite"];
export type MadeKind = DomainWrite["kind"];

// The limits the API enforces (lib/domains), checked here too so that a typo is caught before
// the round trip.
export const maxUserLimit = 100000;
export const maxAgents = 1000;

// Issuers of the CI systems most jobs run on, offered as presets.
export const ciPresets = [
  { label: "GitHub Actions", issuer: "https://token.actions.githubusercontent.com" },
  { label: "GitLab", issuer: "https://gitlab.com" },
];

// The claims CI issuers put in workload tokens that rules usually test (lib/workload's
// KnownClaims): suggestions only, a rule may name any other claim.
export const knownClaims = [
  "sub", "repository", "repository_owner", "repository_id", "repository_visibility", "ref", "ref_type", "ref_protected",
  "workflow", "workflow_ref", "job_workflow_ref", "environment", "event_name", "actor", "runner_environment",
  "project_path", "namespace_path", "pipeline_source", "ref_path", "user_login", "deployment_tier", "ci_config_ref_uri",
];

// The built-in roles a domain may give (the Signum Administrator's is given by the operator only).
export const builtInRoles = [
  { value: "console-admin", label: "Console admin" },
  { value: "console-viewer", label: "Console viewer" },
  { value: "signer", label: "Signer" },
];

export interface RoleOption {
  value: string;
  label: string;
}

// roleOptions are the roles a domain may give, from GET /console/roles: the built-in ones but
// the Signum Administrator's (the operator alone grants it), then the custom roles by name.
export function roleOptions(roles: Role[]): RoleOption[] {
  const builtIn = roles.filter((r) => r.builtIn && r.id !== "signum-administrator").map((r) => ({ value: r.id, label: r.name }));
  const custom = roles
    .filter((r) => !r.builtIn)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((r) => ({ value: r.id, label: `${r.name} (custom role)` }));
  return [...(builtIn.length ? builtIn : builtInRoles), ...custom];
}

// Rows of the editors carry a key of their own so that React keeps each row's input (and
// its focus) when another row is removed.
let nextKey = 1;
export function rowKey(): number {
  return nextKey++;
}

export interface ClaimRow {
  key: number;
  claim: string;
  pattern: string;
}

export interface RuleRow {
  key: number;
  name: string;
  user: string;
  claims: ClaimRow[];
}

export interface MappingRow {
  key: number;
  group: string;
  role: string;
  priority: string;
}

// Common are the fields every made domain has; numbers as typed.
export interface Common {
  name: string;
  alias: string;
  userLimit: string;
  agentConcurrency: string;
}

// People are the fields of the domains whose users are people (OIDC, SAML).
export interface People {
  jit: boolean;
  // defaultRole "" refuses people whose IdP groups map to no role.
  defaultRole: string;
  mappings: MappingRow[];
}

export interface OIDCForm extends Common, People {
  kind: "oidc";
  issuer: string;
  clientId: string;
  // clientSecret is write-only: empty keeps the stored one (hasClientSecret) when editing.
  clientSecret: string;
  hasClientSecret: boolean;
  scopes: string;
  usernameClaim: string;
  emailClaim: string;
  groupsClaim: string;
}

export interface SAMLForm extends Common, People {
  kind: "saml";
  idpMetadataXml: string;
  usernameAttribute: string;
  emailAttribute: string;
  nameAttribute: string;
  groupsAttribute: string;
}

export interface CIForm extends Common {
  kind: "ci";
  issuer: string;
  audience: string;
  rules: RuleRow[];
}

export type DomainForm = OIDCForm | SAMLForm | CIForm;

export function emptyClaim(): ClaimRow {
  return { key: rowKey(), claim: "", pattern: "" };
}

export function emptyRule(): RuleRow {
  return { key: rowKey(), name: "", user: "", claims: [emptyClaim()] };
}

export function emptyMapping(): MappingRow {
  return { key: rowKey(), group: "", role: "console-viewer", priority: "0" };
}

const common: Common = { name: "", alias: "", userLimit: "", agentConcurrency: "" };
const people: People = { jit: false, defaultRole: "", mappings: [] };

// emptyForm is a new domain's form of kind.
export function emptyForm(kind: MadeKind): DomainForm {
  switch (kind) {
    case "oidc":
      return { kind, ...common, ...people, issuer: "", clientId: "", clientSecret: "", hasClientSecret: false, scopes: "", usernameClaim: "", emailClaim: "", groupsClaim: "" };
    case "saml":
      return { kind, ...common, ...people, idpMetadataXml: "", usernameAttribute: "", emailAttribute: "", nameAttribute: "", groupsAttribute: "" };
    case "ci":
      return { kind, ...common, issuer: "", audience: "", rules: [emptyRule()] };
  }
}

function limitText(n: number): string {
  return n ? String(n) : "";
}

// fromDomain fills the form of the domain's kind with the domain as read, so that an edit
// starts from what is stored (the client secret excepted: it is never answered). null for the
// built-in domains, which are not edited here.
export function fromDomain(d: Domain): DomainForm | null {
  const c: Common = { name: d.name, alias: d.alias ?? "", userLimit: limitText(d.userLimit), agentConcurrency: limitText(d.agentConcurrency) };
  const p: People = {
    jit: d.jit,
    defaultRole: d.defaultRole ?? "",
    mappings: d.groupRoles.map((m) => ({ key: rowKey(), group: m.group, role: m.role, priority: String(m.priority) })),
  };
  switch (d.kind) {
    case "oidc": {
      const o = d.oidc;
      return {
        kind: "oidc", ...c, ...p,
        issuer: o?.issuer ?? "", clientId: o?.clientId ?? "", clientSecret: "", hasClientSecret: o?.hasClientSecret ?? false,
        scopes: (o?.scopes ?? []).join(" "), usernameClaim: o?.usernameClaim ?? "", emailClaim: o?.emailClaim ?? "", groupsClaim: o?.groupsClaim ?? "",
      };
    }
    case "saml": {
      const s = d.saml;
      return {
        kind: "saml", ...c, ...p,
        idpMetadataXml: s?.idpMetadataXml ?? "", usernameAttribute: s?.usernameAttribute ?? "", emailAttribute: s?.emailAttribute ?? "",
        nameAttribute: s?.nameAttribute ?? "", groupsAttribute: s?.groupsAttribute ?? "",
      };
    }
    case "ci":
      return {
        kind: "ci", ...c,
        issuer: d.ci?.issuer ?? "", audience: d.ci?.audience ?? "",
        rules: (d.ci?.rules ?? []).map((r) => ({
          key: rowKey(), name: r.name, user: r.user,
          claims: Object.entries(r.claims).map(([claim, pattern]) => ({ key: rowKey(), claim, pattern })),
        })),
      };
    default:
      return null;
  }
}

// wholeNumber reads a number field: empty is 0 (no limit), else a whole number from min to max.
export function wholeNumber(s: string, min: number, max: number): number | null {
  const t = s.trim();
  if (t === "") return 0;
  if (!/^-?\d+$/.test(t)) return null;
  const n = Number(t);
  return n >= min && n <= max ? n : null;
}

// splitScopes reads the scopes as typed: separated by spaces or commas, blanks dropped.
export function splitScopes(s: string): string[] {
  return s.split(/[\s,]+/).filter(Boolean);
}

export function ruleField(i: number, what: "name" | "user" | "claims"): string {
  return `ci.rules[${i}].${what}`;
}

export function claimField(i: number, claim: string): string {
  return `ci.rules[${i}].claims.${claim.trim()}`;
}

// claimsOf turns a rule's claim rows into the claims object the API takes: rows left wholly
// empty are dropped, names trimmed; a pattern is sent as typed (spaces can matter in a
// regular expression). Rows that cannot be sent are reported as field problems of the rule i.
export function claimsOf(i: number, rows: ClaimRow[], fields: Record<string, string>): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const r of rows) {
    const name = r.claim.trim();
    if (name === "" && r.pattern === "") continue;
    if (name === "") {
      fields[ruleField(i, "claims")] = `name the claim that the pattern ${JSON.stringify(r.pattern)} is for`;
      continue;
    }
    if (name in claims) {
      fields[claimField(i, name)] = `${name} is named twice in this rule: keep one row (all its patterns would have to match the same value)`;
      continue;
    }
    claims[name] = r.pattern;
  }
  return claims;
}

// toBody builds the DomainWrite the form stands for, or the field problems found before
// sending (in the API's names, so that they show where the API's would).
export function toBody(f: DomainForm): { body: DomainWrite | null; fields: Record<string, string> } {
  const fields: Record<string, string> = {};
  const userLimit = wholeNumber(f.userLimit, 0, maxUserLimit);
  if (userLimit === null) fields.userLimit = `a whole number from 0 (no limit) to ${maxUserLimit}`;
  const agentConcurrency = wholeNumber(f.agentConcurrency, 0, maxAgents);
  if (agentConcurrency === null) fields.agentConcurrency = `a whole number from 0 (no limit) to ${maxAgents}`;
  const body: DomainWrite = { kind: f.kind, name: f.name, alias: f.alias.trim(), userLimit: userLimit ?? 0, agentConcurrency: agentConcurrency ?? 0 };
  if (f.kind === "oidc" || f.kind === "saml") {
    body.jit = f.jit;
    body.defaultRole = f.defaultRole;
    body.groupRoles = f.mappings.map((m, i) => {
      const priority = wholeNumber(m.priority, -1000000, 1000000);
      if (priority === null) fields[`groupRoles[${i}].priority`] = "a whole number; the highest priority among the person's groups wins";
      return { group: m.group, role: m.role, priority: priority ?? 0 };
    });
  }
  switch (f.kind) {
    case "oidc": {
      const scopes = splitScopes(f.scopes);
      body.oidc = {
        issuer: f.issuer.trim(), clientId: f.clientId.trim(),
        ...(f.clientSecret !== "" && { clientSecret: f.clientSecret }),
        ...(scopes.length > 0 && { scopes }),
        ...(f.usernameClaim.trim() && { usernameClaim: f.usernameClaim.trim() }),
        ...(f.emailClaim.trim() && { emailClaim: f.emailClaim.trim() }),
        ...(f.groupsClaim.trim() && { groupsClaim: f.groupsClaim.trim() }),
      };
      break;
    }
    case "saml":
      body.saml = {
        idpMetadataXml: f.idpMetadataXml,
        ...(f.usernameAttribute.trim() && { usernameAttribute: f.usernameAttribute.trim() }),
        ...(f.emailAttribute.trim() && { emailAttribute: f.emailAttribute.trim() }),
        ...(f.nameAttribute.trim() && { nameAttribute: f.nameAttribute.trim() }),
        ...(f.groupsAttribute.trim() && { groupsAttribute: f.groupsAttribute.trim() }),
      };
      break;
    case "ci":
      body.ci = {
        issuer: f.issuer.trim(),
        audience: f.audience.trim(),
        rules: f.rules.map((r, i) => ({ name: r.name.trim(), user: r.user.trim(), claims: claimsOf(i, r.claims, fields) })),
      };
      break;
  }
  return { body: Object.keys(fields).length ? null : body, fields };
}

// problemOf is show() with every reason the API gave for a field: a field may be refused for
// more than one reason (two bad scopes, say), and show() keeps only the last.
// A 412 says what to do instead of the generic text: again412, or reopen the form.
export function problemOf(error: unknown, response?: Response, again412?: string): Shown {
  const shown = show(error, response);
  if (isProblem(error)) {
    const fields: Record<string, string> = {};
    for (const p of error["invalid-params"] ?? []) fields[p.name] = fields[p.name] ? `${fields[p.name]}; ${p.reason}` : p.reason;
    shown.fields = fields;
    // The reasons are shown beside their fields (and those no control shows, listed below
    // the problem), so the page need not repeat them.
    if (Object.keys(fields).length) shown.detail = "The service refused the fields marked in the form; each says why.";
    // A taken alias is a conflict, not a field problem, but the alias is what to change.
    if (shown.status === 409 && /\balias\b/i.test(shown.detail ?? "")) shown.fields = { ...fields, alias: shown.detail ?? "" };
  }
  if (shown.status === 412) {
    shown.detail = again412 ?? "Someone changed this domain since you opened it. Cancel, open it again with Edit, and make your change again.";
  }
  return shown;
}

// placedFields are the field names the form of kind shows beside a control, for the rows it has.
export function placedFields(f: DomainForm): Set<string> {
  const names = ["name", "alias", "userLimit", "agentConcurrency", "kind"];
  if (f.kind === "oidc" || f.kind === "saml") {
    names.push("jit", "defaultRole", "groupRoles");
    f.mappings.forEach((_, i) => names.push(`groupRoles[${i}].group`, `groupRoles[${i}].role`, `groupRoles[${i}].priority`));
  }
  switch (f.kind) {
    case "oidc":
      names.push("oidc", ...["issuer", "clientId", "clientSecret", "scopes", "usernameClaim", "emailClaim", "groupsClaim"].map((n) => "oidc." + n));
      break;
    case "saml":
      names.push("saml", ...["idpMetadataXml", "usernameAttribute", "emailAttribute", "nameAttribute", "groupsAttribute"].map((n) => "saml." + n));
      break;
    case "ci":
      names.push("ci", "ci.issuer", "ci.audience", "ci.rules");
      f.rules.forEach((r, i) => {
        names.push(ruleField(i, "name"), ruleField(i, "user"), ruleField(i, "claims"));
        r.claims.forEach((c) => c.claim.trim() && names.push(claimField(i, c.claim)));
      });
      break;
  }
  return new Set(names);
}

// unplaced are the field problems no control of the form shows (a field the page does not
// know, or a claim row removed since): listed with the form's problem so that none is lost.
export function unplaced(f: DomainForm, fields: Record<string, string>): [string, string][] {
  const placed = placedFields(f);
  return Object.entries(fields).filter(([name]) => !placed.has(name));
}

// usersText is a domain's user count and limit for the list; the built-in domains' users are
// on the users' pages.
export function usersText(d: Domain): string {
  if (d.builtIn) return "see Users";
  return d.userLimit ? `${d.userCount} of ${d.userLimit}` : `${d.userCount} (no limit)`;
}

export const kindLabel: Record<Domain["kind"], string> = {
  local: "Local users",
  certificate: "Client certificates",
  oidc: "OIDC",
  saml: "SAML 2.0",
  ci: "CI workload identity",
};
