import { describe, expect, it } from "vitest";
import { urlsOf } from "./Timestamping";

describe("urlsOf", () => {
  it("takes one URL a line, trimmed, without blank lines", () => {
    expect(urlsOf(" http://a.example/ \n\n https://b.example/tsa\n")).toEqual(["http://a.example/", "https://b.example/tsa"]);
  });
  it("is empty for an empty text", () => {
    expect(urlsOf("  \n")).toEqual([]);
  });
});

describe("a policy's requireTimestamp", () => {
  it("is read from a stored policy and sent back", async () => {
    const { fromPolicy, toBody, emptyForm } = await import("../policies/policyForm");
    const f = { ...emptyForm(), name: "Stamped", requireTimestamp: true };
    expect(toBody(f).requireTimestamp).toBe(true);
    expect(toBody({ ...f, requireTimestamp: false }).requireTimestamp).toBeUndefined();
    const stored = { id: "pol_x", version: 1, ...toBody(f), enabled: true, priority: 0, where: [], what: { certificates: [], groups: [] }, who: { users: [], roles: [] } };
    expect(fromPolicy(stored as never).requireTimestamp).toBe(true);
  });
});
