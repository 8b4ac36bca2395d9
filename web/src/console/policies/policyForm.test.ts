import { describe, expect, it } from "vitest";
import { byPriority, conflictingPolicies, emptyForm, fieldErrors, fromPolicy, lines, summary, toBody, validate, type Policy } from "./policyForm";

const stored: Policy = {
  id: "pol_yrutvl5iieoiosxfephsmpyhsi",
  name: "Release builds",
  enabled: true,
  priority: 10,
  action: "allow",
  what: { certificates: ["crt_amwxddvkaddx6vfdog7oqayjki"], groups: [] },
  who: { users: ["cu_g3eeyu7kpjfxxmt4u7tewqqlma"], roles: [] },
  where: [{ process: "(?i)signtool\\.exe", commandLine: ".* /fd sha256 .*" }],
  when: {
    timeZone: "Europe/Berlin",
    windows: [{ days: ["monday", "tuesday", "wednesday", "thursday", "friday"], from: "08:00", to: "18:00" }],
    notAfter: "2026-12-31T23:59:59Z",
  },
  version: 3,
};

describe("policy form", () => {
  it("reads a stored policy and builds the same policy back", () => {
    const body = toBody(fromPolicy(stored));
    const { id: _id, version: _v, ...rest } = stored;
    expect(body).toEqual(rest);
  });

  it("sends every member, with where [] and no when, for a policy without them", () => {
    const f = { ...emptyForm(), name: " Everyone ", groups: ["*"], roles: "portal:Admin\nportal:User" };
    expect(validate(f)).toEqual({});
    expect(toBody(f)).toEqual({
      name: "Everyone",
      enabled: true,
      priority: 0,
      action: "allow",
      what: { certificates: [], groups: ["*"] },
      who: { users: [], roles: ["portal:Admin", "portal:User"] },
      where: [],
    });
  });

  it("splits lists on lines and commas and drops blanks", () => {
    expect(lines(" a \n\n b, c ,\n")).toEqual(["a", "b", "c"]);
  });

  it("leaves out an empty command line and orders days as the week", () => {
    const f = { ...emptyForm(), where: [{ process: "make", commandLine: "  " }], windows: [{ days: ["friday", "monday"] as const, from: "22:00", to: "24:00" }].map((w) => ({ ...w, days: [...w.days] })) };
    const b = toBody(f);
    expect(b.where).toEqual([{ process: "make" }]);
    expect(b.when).toEqual({ timeZone: "UTC", windows: [{ days: ["monday", "friday"], from: "22:00", to: "24:00" }] });
  });

  it("refuses, before sending, what the API would refuse", () => {
    const f = {
      ...emptyForm(),
      priority: "1.5",
      roles: "portal:Owner",
      where: [{ process: " ", commandLine: "" }],
      timeZone: "",
      windows: [
        { days: [], from: "18:00", to: "08:00" },
        { days: ["monday" as const], from: "8:00", to: "24:01" },
      ],
      notBefore: "2026-01-01",
      notAfter: "2025-01-01T00:00:00Z",
    };
    expect(validate(f)).toEqual({
      name: "Give the policy a name.",
      priority: "A whole number from -1000000 to 1000000.",
      what: "Name at least one certificate or group (or every certificate).",
      "who.roles": "portal:Owner is not a portal role: write portal:Admin, portal:User or portal:Viewer.",
      "where[0].process": "A pattern of the process name is required (.* is any).",
      "when.timeZone": "A time zone is required with windows, like Europe/Berlin or UTC.",
      "when.windows[0].days": "Pick at least one day.",
      "when.windows[0].to": "Must be after the start; split a window that crosses midnight in two.",
      "when.windows[1].from": "HH:MM, 00:00 to 23:59.",
      "when.windows[1].to": "HH:MM, 00:01 to 24:00.",
      "when.notBefore": "An RFC 3339 time with a zone, like 2026-12-31T23:59:59Z.",
    });
  });

  it("refuses a validity window that ends before it starts", () => {
    const f = { ...emptyForm(), name: "x", groups: ["*"], roles: "signer", notBefore: "2026-01-01T00:00:00Z", notAfter: "2025-01-01T00:00:00+02:00" };
    expect(validate(f)).toEqual({ "when.notAfter": "Must not be before the start." });
  });

  it("puts the API's list reasons on the list's field, naming the line", () => {
    expect(
      fieldErrors({
        "what.certificates[2]": "is not a certificate of this deployment",
        "what.certificates[0]": "is blank",
        "where[1].process": "is not a regular expression",
        name: "is required",
      }),
    ).toEqual({
      "what.certificates": "Line 3: is not a certificate of this deployment Line 1: is blank",
      "where[1].process": "is not a regular expression",
      name: "is required",
    });
  });
  it("names a refused group by the label the form gives it", () => {
    const labels = ["Release", "Nightly"];
    expect(fieldErrors({ "what.groups[1]": "is not a certificate group of this deployment" }, (i) => labels[i])).toEqual({
      "what.groups": "Nightly: is not a certificate group of this deployment",
    });
  });
});

describe("conflicts", () => {
  const conflict = (detail: string, status = 409) => ({ title: "Conflict", status, detail, fields: {} });

  it("names the policies a 409 says this one could contradict", () => {
    const p = conflict("At priority 10 this policy could contradict pol_b7q47zdz6di2rkjkxvvnq4ev4a, pol_default: give one of them another priority or make their certificates or users disjoint.");
    expect(conflictingPolicies(p)).toEqual(["pol_b7q47zdz6di2rkjkxvvnq4ev4a", "pol_default"]);
    expect(conflictingPolicies(p, "pol_default")).toEqual(["pol_b7q47zdz6di2rkjkxvvnq4ev4a"]);
  });

  it("names none for other refusals", () => {
    expect(conflictingPolicies(conflict("This deployment has 200 policies, the most it may hold (200): delete or merge some first."))).toEqual([]);
    expect(conflictingPolicies(conflict("could contradict pol_default", 400))).toEqual([]);
    expect(conflictingPolicies(null)).toEqual([]);
  });
});

describe("list", () => {
  const p = (over: Partial<Policy>): Policy => ({ ...stored, when: undefined, where: [], ...over });

  it("orders as policies decide: highest priority, deny first at a tie, then name", () => {
    const ps = [p({ name: "b", priority: 0 }), p({ name: "c", priority: 5 }), p({ name: "a", priority: 5 }), p({ name: "z", priority: 5, action: "deny" })];
    expect(ps.sort(byPriority).map((x) => x.name)).toEqual(["z", "a", "c", "b"]);
  });

  it("summarises What, Who, Where and When", () => {
    expect(summary(stored)).toEqual({
      what: "crt_amwxddvkaddx6vfdog7oqayjki",
      who: "cu_g3eeyu7kpjfxxmt4u7tewqqlma",
      where: "(?i)signtool\\.exe (.* /fd sha256 .*)",
      when: "Mon Tue Wed Thu Fri 08:00–18:00 Europe/Berlin, until 2026-12-31T23:59:59Z",
    });
    expect(summary(p({ what: { certificates: [], groups: ["*"] }, who: { users: [], roles: ["portal:Admin", "portal:User", "signer", "console-admin"] } }))).toEqual({
      what: "every certificate",
      who: "role portal:Admin, role portal:User, role signer and 1 more",
      where: "any application",
      when: "any time",
    });
  });
});
