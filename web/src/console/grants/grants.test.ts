import { describe, expect, it } from "vitest";
import { emptyGrant, fromGrant, toGrant, toUserGrant, usageText, validateGrant, validateUserGrant, windowText } from "./grantForm";

describe("a policy's grant field", () => {
  it("sends nothing when the policy counts nothing", () => {
    expect(toGrant(emptyGrant())).toBeUndefined();
    expect(validateGrant(emptyGrant(), "deny")).toEqual({});
  });

  it("reads a grant and builds it back, without its count", () => {
    const g = { maxSignatures: 2, window: { from: "2026-12-01T00:00:00Z", to: "2026-12-02T00:00:00Z" }, used: 1 };
    const f = fromGrant(g);
    expect(f.used).toBe(1);
    expect(toGrant(f)).toEqual({ maxSignatures: 2, window: { from: "2026-12-01T00:00:00Z", to: "2026-12-02T00:00:00Z" } });
    expect(toGrant({ ...f, from: "", to: "" })).toEqual({ maxSignatures: 2 });
  });

  it("names the fields the API would name", () => {
    const f = { on: true, max: "0", from: "yesterday", to: "2026-12-01T00:00:00Z" };
    expect(Object.keys(validateGrant(f, "allow")).sort()).toEqual(["grant.from", "grant.maxSignatures"]);
    expect(validateGrant({ ...f, max: "2", from: "2026-12-02T00:00:00Z" }, "allow")).toEqual({ "grant.to": "Must be after the start." });
    expect(validateGrant({ ...f, max: "2", from: "" }, "deny")).toHaveProperty("grant");
  });
});

describe("a one-off grant", () => {
  it("requires a user, a certificate and a count", () => {
    expect(Object.keys(validateUserGrant({ userId: " ", certificateId: "", max: "x", from: "", to: "" })).sort()).toEqual(["certificateId", "maxSignatures", "userId"]);
  });

  it("leaves an open side out of the body", () => {
    expect(toUserGrant({ userId: " cu_1 ", certificateId: "crt_1", max: "3", from: "", to: "2026-12-31T00:00:00Z" })).toEqual({
      userId: "cu_1",
      certificateId: "crt_1",
      maxSignatures: 3,
      to: "2026-12-31T00:00:00Z",
    });
  });

  it("says the window and the count", () => {
    expect(windowText()).toBe("any time");
    expect(windowText("a", undefined)).toBe("from a");
    expect(windowText(undefined, "b")).toBe("until b");
    expect(usageText(1, 1)).toBe("1 of 1 signature used");
    expect(usageText(2, 2)).toBe("2 of 2 signatures used");
  });
});

describe("the policy form with a grant", () => {
  it("sends the grant it read, without the count, and checks it with the policy", async () => {
    const { fromPolicy, toBody, validate } = await import("../policies/policyForm");
    const stored = {
      id: "pol_yrutvl5iieoiosxfephsmpyhsi",
      name: "Release",
      enabled: true,
      priority: 10,
      action: "allow" as const,
      what: { certificates: ["crt_amwxddvkaddx6vfdog7oqayjki"], groups: [] },
      who: { users: ["cu_g3eeyu7kpjfxxmt4u7tewqqlma"], roles: [] },
      where: [],
      grant: { maxSignatures: 2, window: { from: "2026-12-01T00:00:00Z" }, used: 2 },
      version: 1,
    };
    const f = fromPolicy(stored);
    expect(toBody(f).grant).toEqual({ maxSignatures: 2, window: { from: "2026-12-01T00:00:00Z" } });
    expect(validate({ ...f, action: "deny" })).toHaveProperty("grant");
    expect(toBody({ ...f, grant: { ...f.grant, on: false } }).grant).toBeUndefined();
  });
});
