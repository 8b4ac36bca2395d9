import { describe, expect, it } from "vitest";
import { count, limitText, states } from "./describe";

describe("putting a subscription into words", () => {
  it("writes limits with separators, 0 as no limit", () => {
    expect(limitText(100000)).toBe("100,000");
    expect(limitText(50)).toBe("50");
    expect(limitText(0)).toBe("No limit");
    expect(count(1234567)).toBe("1,234,567");
  });
  it("explains every state the API names", () => {
    for (const s of ["pending", "active", "suspended", "unsubscribe-pending", "cancelled"] as const) {
      expect(states[s].meaning.length).toBeGreaterThan(20);
    }
    expect(states.suspended.meaning).toMatch(/Signing is refused.*read-only.*reinstates/);
    expect(states.cancelled.meaning).toMatch(/retention period/);
  });
});
