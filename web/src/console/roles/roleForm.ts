// The role editor's state and its translation to and from the API's Role: a level per area,
// rights per certificate group (with * for every group) and the domains the role manages.
import type { Schemas } from "../../api/client";

export type Role = Schemas["Role"];
export type Level = Schemas["RoleLevel"];
export type Areas = Schemas["RoleAreas"];
export type Area = keyof Areas;
export type GroupRights = Schemas["RoleGroupRights"];
export type Right = "view" | "add" | "remove" | "assign";

// areas are the console's areas in the order the service lists them, with their labels.
export const areas: { key: Area; label: string; hint: string }[] = [
  { key: "certificates", label: "Certificates", hint: "certificates and their keys, in the groups below" },
  { key: "users", label: "Users", hint: "console users of the domains below" },
  { key: "domains", label: "Domains", hint: "how users log in" },
  { key: "policies", label: "Policies", hint: "signing policies" },
  { key: "events", label: "Signing events", hint: "who signed what" },
  { key: "systemLog", label: "System log", hint: "administrative changes and logins" },
  { key: "settings", label: "Settings", hint: "the deployment's settings" },
];

export const levels: Level[] = ["none", "read", "manage"];

export const rights: { key: Right; label: string }[] = [
  { key: "view", label: "View" },
  { key: "add", label: "Add" },
  { key: "remove", label: "Remove" },
  { key: "assign", label: "Assign to policies" },
];

export const everyGroup = "*";
export const everyDomain = "*";
export const localDomain = "local";
export const certificateDomain = "certificate";

export interface RoleForm {
  name: string;
  description: string;
  areas: Record<Area, Level>;
  // groups are the rights by group id; a group without rights is left out.
  groups: Record<string, Omit<GroupRights, "groupId">>;
  domains: string[];
}

const noRights = { view: false, add: false, remove: false, assign: false };

export function emptyForm(): RoleForm {
  return {
    name: "",
    description: "",
    areas: Object.fromEntries(areas.map((a) => [a.key, "none"])) as Record<Area, Level>,
    groups: {},
    domains: [],
  };
}

// formOf is the editor's state for an existing role.
export function formOf(r: Role): RoleForm {
  const f = emptyForm();
  f.name = r.name;
  f.description = r.description;
  for (const a of areas) f.areas[a.key] = r.areas[a.key] ?? "none";
  for (const g of r.groups) f.groups[g.groupId] = { view: !!g.view, add: !!g.add, remove: !!g.remove, assign: !!g.assign };
  f.domains = [...r.domains];
  return f;
}

// rightsOf are the rights the form gives on group id (none when absent).
export function rightsOf(f: RoleForm, id: string) {
  return f.groups[id] ?? noRights;
}

// toggle turns one right on group id on or off, as the service reads them: every other right
// implies view, so turning one on turns view on, and turning view off turns them all off.
export function toggle(f: RoleForm, id: string, right: Right, on: boolean): RoleForm {
  let r = { ...rightsOf(f, id), [right]: on };
  if (on && right !== "view") r.view = true;
  if (!on && right === "view") r = { ...noRights };
  const groups = { ...f.groups };
  if (r.view || r.add || r.remove || r.assign) groups[id] = r;
  else delete groups[id];
  return { ...f, groups };
}

// toggleDomain adds or removes domain id.
export function toggleDomain(f: RoleForm, id: string, on: boolean): RoleForm {
  const domains = f.domains.filter((d) => d !== id);
  if (on) domains.push(id);
  return { ...f, domains };
}

// bodyOf is the form as the service takes it (POST, or PATCH replacing every member).
export function bodyOf(f: RoleForm): Schemas["RoleRequest"] {
  return {
    name: f.name.trim(),
    description: f.description.trim(),
    areas: { ...f.areas },
    groups: Object.entries(f.groups)
      .filter(([, r]) => r.view || r.add || r.remove || r.assign)
      .map(([groupId, r]) => ({ groupId, ...r })),
    domains: [...f.domains],
  };
}

// areaSummary says in a few words what a role may do in the areas it has (not none).
export function areaSummary(r: Role): string {
  const parts = areas.filter((a) => (r.areas[a.key] ?? "none") !== "none").map((a) => `${a.label.toLowerCase()} ${r.areas[a.key]}`);
  return parts.length ? parts.join(", ") : "no console areas";
}

// groupSummary says which rights a role has on which group, by the groups' names.
export function groupSummary(r: Role, names: Record<string, string>): string {
  if (r.groups.length === 0) return "none";
  return r.groups
    .map((g) => {
      const who = g.groupId === everyGroup ? "every group" : (names[g.groupId] ?? `${g.groupId} (deleted)`);
      const what = rights.filter((x) => g[x.key]).map((x) => x.label.toLowerCase());
      return `${who}: ${what.join(", ")}`;
    })
    .join("; ");
}

// domainLabel names a domain a role may manage.
export function domainLabel(id: string): string {
  if (id === everyDomain) return "every domain";
  if (id === localDomain) return "Local users";
  if (id === certificateDomain) return "Certificate users";
  return id;
}
