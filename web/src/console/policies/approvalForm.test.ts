import { describe, expect, it } from "vitest";
import { approvalBody, approvalError, approvalFrom, emptyApproval, validateApproval } from "./approvalForm";
import { emptyForm, fromPolicy, toBody, validate, type Policy } from "./policyForm";

const gated: Policy = {
  id: "pol_yrutvl5iieoiosxfephsmpyhsi",
  name: "Gated release",
  enabled: true,
  priority: 10,
  action: "allow",
  what: { certificates: ["crt_amwxddvkaddx6vfdog7oqayjki"], groups: [] },
  who: { users: ["cu_g3eeyu7kpjfxxmt4u7tewqqlma"], roles: [] },
  where: [],
  approval: { required: 2, approvers: { users: ["cu_alice", "cu_bob"], roles: ["console-admin"] }, expiresAfter: "24h" },
  version: 1,
};

describe("approval field", () => {
  it("reads a policy's approval and builds the same one back", () => {
    const body = toBody(fromPolicy(gated));
    expect(body.approval).toEqual(gated.approval);
  });

  it("sends no approval when none is required", () => {
    expect(approvalBody(emptyApproval())).toBeUndefined();
    expect(toBody({ ...emptyForm(), name: "x", groups: ["*"], roles: "signer" }).approval).toBeUndefined();
    expect(approvalFrom(undefined).required).toBe(false);
  });

  it("checks what needs no server", () => {
    const on = { ...emptyApproval(), required: true };
    expect(validateApproval(on, "allow")).toEqual({ "approval.approvers": "Name at least one user or role who may approve." });
    expect(validateApproval({ ...on, users: "cu_a", count: "2" }, "allow")["approval.required"]).toMatch(/More than the 1 users/);
    expect(validateApproval({ ...on, roles: "console-admin", count: "0" }, "allow")["approval.required"]).toMatch(/1 to 10/);
    expect(validateApproval({ ...on, roles: "console-admin", expiresAfter: "a day" }, "allow")["approval.expiresAfter"]).toBeDefined();
    expect(validateApproval({ ...on, roles: "console-admin" }, "deny").approval).toMatch(/only a policy that allows/i);
    expect(validateApproval({ ...on, roles: "console-admin", count: "3", expiresAfter: "1h30m" }, "allow")).toEqual({});
    // The whole form's check includes the field's.
    expect(validate({ ...emptyForm(), name: "x", groups: ["*"], roles: "signer", approval: on })["approval.approvers"]).toBeDefined();
  });

  it("puts the API's reasons on the list they name, by line", () => {
    expect(approvalError({ "approval.approvers.users[1]": "is empty" }, "approval.approvers.users")).toBe("Line 2: is empty");
    expect(approvalError({ "approval.required": "must be between 1 and 10" }, "approval.required")).toBe("must be between 1 and 10");
    expect(approvalError({}, "approval.required")).toBeUndefined();
  });
});
