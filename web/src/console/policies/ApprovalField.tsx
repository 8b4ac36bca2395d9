import { CheckField, Field, TextAreaField } from "../../ui/Field";
import { approvalError, type ApprovalForm } from "./approvalForm";

// ApprovalField is the policy form's approval: whether the policy holds each request it
// allows until enough approvers approve it, who they are, and how long a request waits.
export function ApprovalField({ value, errors, onChange }: { value: ApprovalForm; errors: Record<string, string>; onChange(v: ApprovalForm): void }) {
  const set = (patch: Partial<ApprovalForm>) => onChange({ ...value, ...patch });
  const err = (k: string) => approvalError(errors, k);
  return (
    <fieldset>
      <legend>Approval</legend>
      {errors.approval && <p className="field-error">{errors.approval}</p>}
      <CheckField
        label="Require approval before signing"
        checked={value.required}
        onChange={(v) => set({ required: v })}
        hint="Each request this policy allows waits until enough approvers approve it in the console; the requester never approves its own."
      />
      {value.required && (
        <>
          <Field label="Approvals required" inputMode="numeric" value={value.count} error={err("approval.required")} hint="How many different approvers (1 to 10)." onChange={(e) => set({ count: e.target.value })} />
          {err("approval.approvers") && <p className="field-error">{err("approval.approvers")}</p>}
          <TextAreaField
            className="list-input"
            label="Approver user ids"
            value={value.users}
            error={err("approval.approvers.users")}
            hint="One per line: console users cu_…"
            onChange={(e) => set({ users: e.target.value })}
          />
          <TextAreaField
            className="list-input"
            label="Approver roles"
            value={value.roles}
            error={err("approval.approvers.roles")}
            hint="One per line: any holder of the role may approve (console-admin, a custom role, portal:Admin, …)."
            onChange={(e) => set({ roles: e.target.value })}
          />
          <Field label="Expires after" value={value.expiresAfter} error={err("approval.expiresAfter")} hint="How long a request waits, like 24h or 90m (1m to 720h)." onChange={(e) => set({ expiresAfter: e.target.value })} />
        </>
      )}
    </fieldset>
  );
}
