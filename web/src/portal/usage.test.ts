import { describe, expect, it } from "vitest";
import { known, nextMonth, usage, utcDay } from "./usage";

describe("usage against a plan's limits", () => {
  it("shows use of a limit, with separators", () => {
    expect(usage(3, 50)).toEqual({ text: "3 of 50", limit: 50, value: 3, full: false });
    expect(usage(12345, 100000).text).toBe("12,345 of 100,000");
  });
  it("is full at the limit, and the meter stops there when the use goes over", () => {
    expect(usage(50, 50).full).toBe(true);
    expect(usage(1200, 1000)).toEqual({ text: "1,200 of 1,000", limit: 1000, value: 1000, full: true });
  });
  it("has no limit and no meter when the plan sets none (0)", () => {
    expect(usage(7, 0)).toEqual({ text: "7 (no limit)", limit: 0, value: 7, full: false });
  });
});

describe("when the month's signature cap lifts", () => {
  it("is the first of the next UTC month", () => {
    expect(nextMonth(new Date("2026-07-15T12:00:00Z")).toISOString()).toBe("2026-08-01T00:00:00.000Z");
    expect(nextMonth(new Date("2026-12-31T23:59:59Z")).toISOString()).toBe("2027-01-01T00:00:00.000Z");
  });
  it("counts by UTC, not the browser's zone", () => {
    // Late on 31 January UTC is already February east of Greenwich; the cap still lifts on 1 February.
    expect(nextMonth(new Date("2026-01-31T23:30:00Z")).toISOString()).toBe("2026-02-01T00:00:00.000Z");
    expect(utcDay(new Date("2026-02-01T00:00:00Z"))).toBe("1 February 2026");
  });
});

describe("times the API may leave unset", () => {
  it("takes Go's zero time, nothing and nonsense as unknown", () => {
    expect(known("0001-01-01T00:00:00Z")).toBe(false);
    expect(known(undefined)).toBe(false);
    expect(known("yesterday")).toBe(false);
    expect(known("2026-07-15T12:00:00Z")).toBe(true);
  });
});
