import { describe, expect, it } from "vitest";
import { loginHref, readLoginFragment } from "./fragment";

describe("the login page's fragment", () => {
  it("carries a token and its expiry", () => {
    expect(readLoginFragment("#token=abc.def.ghi&expiresAt=2026-12-03T17%3A00%3A00Z")).toEqual({
      kind: "token",
      token: "abc.def.ghi",
      expiresAt: "2026-12-03T17:00:00Z",
    });
  });

  it("carries a refusal with its reason and status", () => {
    const got = readLoginFragment("#error=Your+IdP+groups+map+to+no+role%3B+ask.&status=403");
    expect(got).toEqual({
      kind: "error",
      problem: { title: "You may not log in to this console", detail: "Your IdP groups map to no role; ask.", status: 403, fields: {} },
    });
  });

  it("says a refusal without a status failed, without inventing one", () => {
    const got = readLoginFragment("error=Something&status=abc");
    expect(got?.kind).toBe("error");
    if (got?.kind === "error") {
      expect(got.problem.status).toBeUndefined();
      expect(got.problem.title).toBe("The login failed");
      expect(got.problem.detail).toBe("Something");
    }
  });

  it("carries a test login's outcome", () => {
    expect(readLoginFragment("#test=Test+login+at+the+OIDC+domain+Acme%3A+ok.")).toEqual({ kind: "test", text: "Test login at the OIDC domain Acme: ok." });
  });

  it("a token wins over an error, and nothing is nothing", () => {
    expect(readLoginFragment("#token=t&error=x")?.kind).toBe("token");
    expect(readLoginFragment("")).toBeNull();
    expect(readLoginFragment("#section-2")).toBeNull();
  });

  it("starts a login on this host, the id escaped", () => {
    expect(loginHref("dom_abc")).toBe("/console/domains/dom_abc/login");
    expect(loginHref("a/b?c")).toBe("/console/domains/a%2Fb%3Fc/login");
  });
});
