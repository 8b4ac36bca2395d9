import { describe, expect, it } from "vitest";
import { limitOf } from "./Groups";

describe("a group's certificate limit as typed", () => {
  it("is no limit (0) when empty", () => {
    expect(limitOf("")).toBe(0);
    expect(limitOf("  ")).toBe(0);
  });
  it("is a whole number from 0 to 100000", () => {
    expect(limitOf("10")).toBe(10);
    expect(limitOf("100000")).toBe(100000);
  });
  it("is refused otherwise", () => {
    for (const bad of ["-1", "1.5", "ten", "100001", "1e3x"]) expect(limitOf(bad)).toBeNull();
  });
});
