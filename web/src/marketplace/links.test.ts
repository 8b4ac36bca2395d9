import { describe, expect, it } from "vitest";
import { firstAdminPath } from "./links";

describe("the first Admin's registration link", () => {
  it("carries the token and the address, encoded", () => {
    const p = firstAdminPath("inv_a+b/c", "ada+admin@example.com");
    expect(p.startsWith("/portal/register?")).toBe(true);
    const q = new URLSearchParams(p.split("?")[1]);
    expect(q.get("token")).toBe("inv_a+b/c");
    expect(q.get("email")).toBe("ada+admin@example.com");
  });
  it("leaves the address out when the link is not bound to one", () => {
    expect(firstAdminPath("inv_1")).toBe("/portal/register?token=inv_1");
  });
});
