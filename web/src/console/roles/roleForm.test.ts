import { describe, expect, it } from "vitest";
import { areaSummary, domainLabel, bodyOf, emptyForm, formOf, groupSummary, toggle, toggleDomain, type Role } from "./roleForm";

const role: Role = {
  id: "role_x",
  name: "Release managers",
  description: "Ships",
  builtIn: false,
  areas: { certificates: "manage", users: "none", domains: "none", policies: "read", events: "read", systemLog: "none", settings: "none" },
  groups: [
    { groupId: "*", view: true, add: false, remove: false, assign: false },
    { groupId: "grp_a", view: true, add: true, remove: false, assign: true },
  ],
  domains: ["local"],
  userCount: 2,
  version: 3,
};

describe("the role editor's permission grid", () => {
  it("starts with every area at none and no rights", () => {
    const f = emptyForm();
    expect(Object.values(f.areas).every((l) => l === "none")).toBe(true);
    expect(bodyOf(f).groups).toEqual([]);
  });
  it("turns view on with any other right, and every right off with view", () => {
    let f = toggle(emptyForm(), "grp_a", "assign", true);
    expect(f.groups.grp_a).toEqual({ view: true, add: false, remove: false, assign: true });
    f = toggle(f, "grp_a", "add", true);
    f = toggle(f, "grp_a", "view", false);
    expect(f.groups.grp_a).toBeUndefined();
  });
  it("drops a group whose last right goes", () => {
    const f = toggle(toggle(emptyForm(), "*", "view", true), "*", "view", false);
    expect(bodyOf(f).groups).toEqual([]);
  });
  it("reads a role and sends it back as it was", () => {
    const body = bodyOf(formOf(role));
    expect(body.name).toBe("Release managers");
    expect(body.areas).toEqual(role.areas);
    expect(body.groups).toEqual(role.groups);
    expect(body.domains).toEqual(["local"]);
  });
  it("adds and removes domains", () => {
    let f = toggleDomain(emptyForm(), "*", true);
    f = toggleDomain(f, "local", true);
    f = toggleDomain(f, "*", false);
    expect(f.domains).toEqual(["local"]);
  });
  it("trims the name and the description", () => {
    const f = { ...emptyForm(), name: "  Ops ", description: " x " };
    expect(bodyOf(f)).toMatchObject({ name: "Ops", description: "x" });
  });
});

describe("a role in the list", () => {
  it("says its areas above none", () => {
    expect(areaSummary(role)).toBe("certificates manage, policies read, signing events read");
  });
  it("names its groups, and the ones that are gone", () => {
    expect(groupSummary(role, { grp_a: "Release" })).toBe("every group: view; Release: view, add, assign to policies");
    expect(groupSummary(role, {})).toContain("grp_a (deleted)");
  });
});

describe("the domains a role manages, by name", () => {
  it("names the built-in domains and keeps other ids", () => {
    expect(domainLabel("*")).toBe("every domain");
    expect(domainLabel("local")).toBe("Local users");
    expect(domainLabel("certificate")).toBe("Certificate users");
    expect(domainLabel("dom_abc")).toBe("dom_abc");
  });
});
