import { describe, expect, it } from "vitest";
import { may, type Session } from "./session";

const s = (roles: string[], areas?: Session["areas"]): Session => ({ face: "console", deploymentId: "dep_x", roles, expiresAt: "", name: "x", areas });

describe("what a console session may do per area", () => {
  it("follows the built-in roles", () => {
    expect(may(s(["console-admin"]), "certificates", "manage")).toBe(true);
    expect(may(s(["console-admin"]), "domains", "manage")).toBe(false);
    expect(may(s(["console-admin"]), "domains", "read")).toBe(true);
    expect(may(s(["console-viewer"]), "policies", "read")).toBe(true);
    expect(may(s(["console-viewer"]), "policies", "manage")).toBe(false);
    expect(may(s(["console-viewer"]), "systemLog", "read")).toBe(false);
    expect(may(s(["signum-administrator"]), "domains", "manage")).toBe(true);
    expect(may(s(["signer"]), "certificates")).toBe(false);
    expect(may(null, "certificates")).toBe(false);
  });
  it("adds a custom role's areas", () => {
    const scoped = s(["signer"], { certificates: "manage", systemLog: "read", users: "none" });
    expect(may(scoped, "certificates", "manage")).toBe(true);
    expect(may(scoped, "systemLog")).toBe(true);
    expect(may(scoped, "users")).toBe(false);
    expect(may(scoped, "policies")).toBe(false);
    expect(may(s(["console-viewer"], { policies: "manage" }), "policies", "manage")).toBe(true);
  });
});
