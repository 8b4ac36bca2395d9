import { describe, expect, it } from "vitest";
import {
  claimsOf,
  emptyForm,
  emptyRule,
  fromDomain,
  placedFields,
  problemOf,
  roleOptions,
  rowKey,
  toBody,
  unplaced,
  usersText,
  wholeNumber,
  type CIForm,
  type Domain,
  type OIDCForm,
  type SAMLForm,
} from "./domainForm";

const claim = (c: string, p: string) => ({ key: rowKey(), claim: c, pattern: p });

function ciForm(patch: Partial<CIForm> = {}): CIForm {
  return {
    ...(emptyForm("ci") as CIForm),
    name: "GitHub Actions",
    alias: " gha ",
    issuer: "https://token.actions.githubusercontent.com",
    audience: "signum",
    rules: [{ key: rowKey(), name: "release", user: "ci-release", claims: [claim("repository", "acme/app"), claim("ref", "refs/tags/v.*")] }],
    ...patch,
  };
}

describe("a CI domain's form", () => {
  it("becomes the API's body with the claim rows as one claims object per rule", () => {
    const { body, fields } = toBody(ciForm({ agentConcurrency: "4" }));
    expect(fields).toEqual({});
    expect(body).toEqual({
      kind: "ci",
      name: "GitHub Actions",
      alias: "gha",
      userLimit: 0,
      agentConcurrency: 4,
      ci: {
        issuer: "https://token.actions.githubusercontent.com",
        audience: "signum",
        rules: [{ name: "release", user: "ci-release", claims: { repository: "acme/app", ref: "refs/tags/v.*" } }],
      },
    });
    // A CI domain's users are named by its rules: no provisioning or role fields are sent.
    expect(body).not.toHaveProperty("jit");
    expect(body).not.toHaveProperty("groupRoles");
  });

  it("comes back the same from the domain as read", () => {
    const body = toBody(ciForm()).body!;
    const read: Domain = { id: "dom_x", kind: "ci", name: body.name, alias: "gha", builtIn: false, userLimit: 0, agentConcurrency: 0, jit: false, groupRoles: [], ci: body.ci, userCount: 0, version: 3 };
    const form = fromDomain(read) as CIForm;
    expect(form.kind).toBe("ci");
    expect(form.userLimit).toBe("");
    expect(form.rules[0].claims.map((c) => [c.claim, c.pattern])).toEqual([["repository", "acme/app"], ["ref", "refs/tags/v.*"]]);
    expect(toBody(form).body).toEqual(body);
  });

  it("keeps every rule in order so that the API's rule indexes are the form's", () => {
    const f = ciForm();
    f.rules.push(emptyRule(), { key: rowKey(), name: "main", user: "ci-main", claims: [claim("ref", "refs/heads/main")] });
    const rules = toBody(f).body!.ci!.rules;
    expect(rules.map((r) => r.name)).toEqual(["release", "", "main"]);
    // The empty rule's empty claim row is dropped: the API says the rule needs a claim.
    expect(rules[1].claims).toEqual({});
  });
});

describe("the claim rules editor's rows", () => {
  it("drop rows left empty, trim names and keep patterns as typed", () => {
    const fields = {};
    expect(claimsOf(0, [claim(" repository ", "acme/app "), claim("", ""), claim("ref", "refs/heads/main")], fields)).toEqual({ repository: "acme/app ", ref: "refs/heads/main" });
    expect(fields).toEqual({});
  });
  it("refuse a pattern without a claim name, on the rule's claims", () => {
    const fields: Record<string, string> = {};
    claimsOf(2, [claim("", "acme/.*")], fields);
    expect(fields["ci.rules[2].claims"]).toMatch(/name the claim/);
  });
  it("refuse a claim named twice in a rule, on that claim", () => {
    const { body, fields } = toBody(ciForm({ rules: [{ key: rowKey(), name: "r", user: "u", claims: [claim("ref", "a"), claim("ref ", "b")] }] }));
    expect(body).toBeNull();
    expect(fields["ci.rules[0].claims.ref"]).toMatch(/named twice/);
  });
});

describe("the numbers as typed", () => {
  it("are 0 (no limit) when empty, whole numbers within the limits otherwise", () => {
    expect(wholeNumber(" ", 0, 10)).toBe(0);
    expect(wholeNumber("10", 0, 10)).toBe(10);
    for (const bad of ["11", "-1", "1.5", "ten", "1e2"]) expect(wholeNumber(bad, 0, 10)).toBeNull();
  });
  it("are refused before sending, in the API's field names", () => {
    const { body, fields } = toBody(ciForm({ userLimit: "lots", agentConcurrency: "1001" }));
    expect(body).toBeNull();
    expect(Object.keys(fields).sort()).toEqual(["agentConcurrency", "userLimit"]);
  });
});

describe("an OIDC domain's form", () => {
  const f: OIDCForm = {
    ...(emptyForm("oidc") as OIDCForm),
    name: "Acme IdP",
    alias: "acme",
    issuer: " https://idp.acme.example ",
    clientId: "signum",
    scopes: "openid, profile  groups",
    groupsClaim: "roles",
    jit: true,
    defaultRole: "console-viewer",
    mappings: [{ key: rowKey(), group: "signers", role: "signer", priority: "10" }],
  };
  it("sends the secret only when one is typed: empty keeps the stored one", () => {
    expect(toBody(f).body!.oidc).toEqual({ issuer: "https://idp.acme.example", clientId: "signum", scopes: ["openid", "profile", "groups"], groupsClaim: "roles" });
    expect(toBody({ ...f, clientSecret: "s3cret" }).body!.oidc!.clientSecret).toBe("s3cret");
  });
  it("sends provisioning, the default role and the mappings", () => {
    const b = toBody(f).body!;
    expect([b.jit, b.defaultRole, b.groupRoles]).toEqual([true, "console-viewer", [{ group: "signers", role: "signer", priority: 10 }]]);
    expect(toBody({ ...f, defaultRole: "" }).body!.defaultRole).toBe("");
  });
  it("refuses a priority that is not a whole number, on its row", () => {
    expect(toBody({ ...f, mappings: [{ key: rowKey(), group: "g", role: "signer", priority: "high" }] }).fields).toHaveProperty(["groupRoles[0].priority"]);
  });
  it("never holds the secret as read", () => {
    const read: Domain = {
      id: "dom_o", kind: "oidc", name: "Acme", alias: "acme", builtIn: false, userLimit: 5, agentConcurrency: 0, jit: false,
      groupRoles: [], oidc: { issuer: "https://idp.acme.example", clientId: "signum", hasClientSecret: true }, userCount: 1, version: 1,
    };
    const form = fromDomain(read) as OIDCForm;
    expect([form.clientSecret, form.hasClientSecret, form.userLimit, form.defaultRole]).toEqual(["", true, "5", ""]);
    expect(toBody(form).body!.oidc).not.toHaveProperty("clientSecret");
  });
});

describe("a SAML domain's form", () => {
  it("sends the metadata and the attributes given", () => {
    const f: SAMLForm = { ...(emptyForm("saml") as SAMLForm), name: "Okta", alias: "okta", idpMetadataXml: "<md:EntityDescriptor/>", groupsAttribute: "memberOf" };
    expect(toBody(f).body!.saml).toEqual({ idpMetadataXml: "<md:EntityDescriptor/>", groupsAttribute: "memberOf" });
  });
});

describe("the API's field problems", () => {
  const problem = {
    type: "https://example/problems.md#invalid-request",
    title: "Invalid request",
    status: 400,
    "invalid-params": [
      { name: "alias", reason: "is 1 to 32 lower-case letters" },
      { name: "ci.rules[0].claims.ref", reason: "does not compile" },
      { name: "ci.rules[0].claims.ref", reason: "matches an empty value" },
      { name: "ci.rules[7].name", reason: "a rule name is 1 to 64 printable characters" },
    ],
  };
  it("keep every reason of a field", () => {
    expect(problemOf(problem).fields["ci.rules[0].claims.ref"]).toBe("does not compile; matches an empty value");
  });
  it("are placed beside the claim row they name, and listed when no control shows them", () => {
    const f = ciForm();
    expect(placedFields(f).has("ci.rules[0].claims.ref")).toBe(true);
    expect(placedFields(f).has("ci.rules[0].name")).toBe(true);
    expect(unplaced(f, problemOf(problem).fields)).toEqual([["ci.rules[7].name", "a rule name is 1 to 64 printable characters"]]);
  });
  it("of an OIDC form name its settings and its mapping rows", () => {
    const f: OIDCForm = { ...(emptyForm("oidc") as OIDCForm), mappings: [{ key: rowKey(), group: "", role: "x", priority: "0" }] };
    const placed = placedFields(f);
    for (const n of ["oidc.issuer", "oidc.clientSecret", "defaultRole", "groupRoles[0].group", "groupRoles[0].role"]) expect(placed.has(n)).toBe(true);
    expect(placed.has("groupRoles[1].role")).toBe(false);
    expect(placed.has("ci.issuer")).toBe(false);
  });
  it("replace the detail that repeats them", () => {
    expect(problemOf({ ...problem, detail: "4 fields are invalid; see invalid-params." }).detail).toMatch(/fields marked in the form/);
  });
  it("of a taken alias (409) are put beside the alias too", () => {
    const detail = 'A domain with the alias "gha" exists in this deployment: its users log in as user@gha; choose another alias.';
    expect(problemOf({ type: "t", title: "Conflict", status: 409, detail }).fields.alias).toBe(detail);
    expect(problemOf({ type: "t", title: "Conflict", status: 409, detail: "The domain dom_x has 2 users: delete them first." }).fields).toEqual({});
  });
  it("of a 412 say to open the domain again", () => {
    const p = problemOf({ type: "t", title: "Precondition failed", status: 412, detail: "version 2, not 1" });
    expect(p.detail).toMatch(/changed this domain/);
  });
});

describe("the list's users column", () => {
  const d: Domain = { id: "dom_x", kind: "ci", name: "x", alias: "x", builtIn: false, userLimit: 0, agentConcurrency: 0, jit: false, groupRoles: [], userCount: 3, version: 1 };
  it("shows the count and the limit", () => {
    expect(usersText(d)).toBe("3 (no limit)");
    expect(usersText({ ...d, userLimit: 10 })).toBe("3 of 10");
    expect(usersText({ ...d, id: "local", kind: "local", builtIn: true })).toBe("see Users");
  });
});

describe("the roles a domain may give", () => {
  const role = (id: string, name: string, builtIn: boolean) => ({ id, name, builtIn, description: "", areas: {} as never, groups: [], domains: [] });
  it("are the built-in roles but the Signum Administrator's, then the custom roles by name", () => {
    const opts = roleOptions([
      role("console-admin", "Console admin", true),
      role("signum-administrator", "Signum Administrator", true),
      role("role_b", "Release managers", false),
      role("role_a", "Auditors", false),
    ]);
    expect(opts.map((o) => o.value)).toEqual(["console-admin", "role_a", "role_b"]);
    expect(opts[1].label).toBe("Auditors (custom role)");
  });
  it("fall back to the built-in roles when none is listed", () => {
    expect(roleOptions([]).map((o) => o.value)).toEqual(["console-admin", "console-viewer", "signer"]);
  });
});
