// The policy editor's approval field (Policy.approval: M of N approvers before a request the
// policy allows is signed), kept apart from React and from the rest of the form so that it
// can be tested and changed alone.
import type { Schemas } from "../../api/client";

type Approval = NonNullable<Schemas["PolicyWrite"]["approval"]>;

// ApprovalForm holds the field as typed: lists one entry per line, numbers as text.
export interface ApprovalForm {
  required: boolean;
  count: string;
  users: string;
  roles: string;
  expiresAfter: string;
}

export function emptyApproval(): ApprovalForm {
  return { required: false, count: "2", users: "", roles: "", expiresAfter: "24h" };
}

function entries(s: string): string[] {
  return s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

// approvalFrom is the field for a policy as read.
export function approvalFrom(a: Schemas["Policy"]["approval"]): ApprovalForm {
  if (!a) return emptyApproval();
  return {
    required: true,
    count: String(a.required),
    users: (a.approvers.users ?? []).join("\n"),
    roles: (a.approvers.roles ?? []).join("\n"),
    expiresAfter: a.expiresAfter ?? "24h",
  };
}

// approvalBody is the policy's approval member, or undefined when none is required.
export function approvalBody(f: ApprovalForm): Approval | undefined {
  if (!f.required) return undefined;
  const out: Approval = { required: Number(f.count.trim()), approvers: { users: entries(f.users), roles: entries(f.roles) } };
  if (f.expiresAfter.trim() !== "") out.expiresAfter = f.expiresAfter.trim();
  return out;
}

const duration = /^(\d+h)?(\d+m)?(\d+s)?$/;

// validateApproval makes the checks that need no server, named as the API names them.
export function validateApproval(f: ApprovalForm, action: "allow" | "deny"): Record<string, string> {
  const e: Record<string, string> = {};
  if (!f.required) return e;
  if (action !== "allow") e.approval = "Only a policy that allows can require approval.";
  const n = f.count.trim();
  const users = entries(f.users);
  if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 10) e["approval.required"] = "A whole number from 1 to 10.";
  else if (entries(f.roles).length === 0 && Number(n) > users.length && users.length > 0) e["approval.required"] = `More than the ${users.length} users named.`;
  if (users.length + entries(f.roles).length === 0) e["approval.approvers"] = "Name at least one user or role who may approve.";
  const x = f.expiresAfter.trim();
  if (x !== "" && !duration.test(x)) e["approval.expiresAfter"] = "A duration like 24h, 90m or 1h30m (1m to 720h).";
  return e;
}

// approvalError is the error for a list of the field: the API names entries by index
// (approval.approvers.users[2]), the form has one text area per list.
export function approvalError(errors: Record<string, string>, key: string): string | undefined {
  const found = Object.entries(errors)
    .filter(([k]) => k === key || k.startsWith(key + "["))
    .map(([k, v]) => {
      const m = /\[(\d+)\]$/.exec(k);
      return m ? `Line ${Number(m[1]) + 1}: ${v}` : v;
    });
  return found.length ? found.join(" ") : undefined;
}
