import { describe, expect, it } from "vitest";
import { portalPasswordRules } from "./password";

const unmet = (p: string, email = "ada@example.com") =>
  portalPasswordRules(p, email)
    .filter((r) => !r.ok)
    .map((r) => r.label);

describe("portal password rules", () => {
  it("accepts a password that meets every rule", () => {
    expect(unmet("Correct-Horse-9")).toEqual([]);
  });
  it("names each rule a password breaks", () => {
    expect(unmet("short")).toEqual(["At least 12 characters", "An upper-case letter", "A digit"]);
    expect(unmet("ALLUPPERCASE1")).toEqual(["A lower-case letter"]);
  });
  it("refuses the e-mail address as the password, in any case", () => {
    expect(unmet("Ada@Example.com1", "ada@example.com1")).toContain("Not your e-mail address");
  });
  it("counts characters, not bytes, for the length and bytes for the limit", () => {
    expect(unmet("Ééééééééééé1")).toEqual([]);
    expect(unmet("A1" + "é".repeat(128))).toEqual(["At most 256 bytes"]);
  });
});
