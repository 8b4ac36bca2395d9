import { describe, expect, it } from "vitest";
import { consolePasswordRules } from "./password";

const strict = { minLength: 12, requireUpper: true, requireLower: true, requireDigit: true, requireSymbol: true, maxAgeDays: 0 };
const loose = { minLength: 8, requireUpper: false, requireLower: false, requireDigit: false, requireSymbol: false, maxAgeDays: 90 };

const unmet = (p: string, policy = strict, user = "alice") =>
  consolePasswordRules(p, user, policy)
    .filter((r) => !r.ok)
    .map((r) => r.label);

describe("console password rules", () => {
  it("accepts a password that meets every rule of the policy", () => {
    expect(unmet("Correct-Horse-9")).toEqual([]);
  });
  it("names each rule of the policy a password breaks", () => {
    expect(unmet("short")).toEqual(["At least 12 characters", "An upper-case letter", "A digit", "A symbol (not a letter or digit)"]);
  });
  it("asks only for what the policy requires", () => {
    expect(consolePasswordRules("x", "alice", loose).map((r) => r.label)).toEqual(["At least 8 characters", "Not the user name", "No control characters", "At most 256 bytes"]);
    expect(unmet("alllowercase", loose)).toEqual([]);
  });
  it("counts a space as a symbol", () => {
    expect(unmet("Correct Horse 9")).toEqual([]);
  });
  it("refuses the user name as the password, in any case", () => {
    expect(unmet("Build-Agent-01", loose, "build-agent-01")).toEqual(["Not the user name"]);
  });
  it("refuses control characters and more than 256 bytes", () => {
    expect(unmet("Correct-Horse-9\n")).toEqual(["No control characters"]);
    expect(unmet("Aa1-" + "é".repeat(127))).toEqual(["At most 256 bytes"]);
  });
});
