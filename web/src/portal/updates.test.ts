import { describe, expect, it } from "vitest";
import { inputFromUTC, unfinished, utcFromInput, windowText } from "./updates";

describe("updates helpers", () => {
  it("says the window", () => {
    expect(windowText({ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "01:00", durationMinutes: 240 })).toBe("Every day, 01:00–05:00 UTC");
    expect(windowText({ days: ["sat", "sun"], start: "23:00", durationMinutes: 120 })).toBe("Sat, Sun, 23:00–01:00 (next day) UTC");
  });
  it("reads the schedule input as UTC", () => {
    expect(utcFromInput("2026-12-04T02:30")).toBe("2026-12-04T02:30:00Z");
    expect(utcFromInput("")).toBe("");
    expect(utcFromInput("tomorrow")).toBe("");
    expect(inputFromUTC("2026-12-04T02:30:00Z")).toBe("2026-12-04T02:30");
  });
  it("knows which runs go on", () => {
    expect(unfinished({ state: "running" } as never)).toBe(true);
    expect(unfinished({ state: "paused" } as never)).toBe(false);
    expect(unfinished(null)).toBe(false);
  });
});
