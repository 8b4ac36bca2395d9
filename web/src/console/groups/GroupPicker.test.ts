import { describe, expect, it } from "vitest";
import { groupNames, toggle, type Group } from "./GroupPicker";
import { groupErrors } from "../certificates/groupErrors";

const groups: Group[] = [
  { id: "grp_a", name: "Release", certificateCount: 1, version: 1 } as Group,
  { id: "grp_b", name: "Nightly", certificateCount: 0, version: 1 } as Group,
];

describe("groups shown by name", () => {
  it("names known ids, keeps unknown ones and says every certificate for *", () => {
    expect(groupNames(["grp_b", "grp_gone", "*"], groups)).toBe("Nightly, grp_gone, every certificate");
    expect(groupNames([], groups)).toBe("—");
    expect(groupNames(["grp_a"], null)).toBe("grp_a");
  });
  it("toggles a choice without duplicates", () => {
    expect(toggle(["grp_a"], "grp_b", true)).toEqual(["grp_a", "grp_b"]);
    expect(toggle(["grp_a", "grp_b"], "grp_a", true)).toEqual(["grp_b", "grp_a"]);
    expect(toggle(["grp_a", "grp_b"], "grp_a", false)).toEqual(["grp_b"]);
  });
  it("gathers the API's reasons about a certificate's groups, naming the entry", () => {
    const problem = { title: "Bad", fields: { groups: "needs at least one group", "groups[1]": "is full", name: "is blank" } };
    expect(groupErrors(problem, ["grp_a", "grp_b"], groups)).toBe("needs at least one group; Nightly: is full");
    expect(groupErrors(null, [], groups)).toBeUndefined();
  });
});
