import { Link } from "react-router-dom";
import { CheckField } from "../../ui/Field";
import type { PolicyForm } from "../policies/policyForm";

// RequireTimestampField is the policy form's "Require a timestamp": only an allow policy signs,
// so a deny policy shows why it cannot (the API refuses it on requireTimestamp too).
export function RequireTimestampField({ form, error, onChange }: { form: PolicyForm; error?: string; onChange: (v: boolean) => void }) {
  return (
    <>
      <CheckField
        label="Require a timestamp"
        checked={form.requireTimestamp}
        disabled={form.action !== "allow" && !form.requireTimestamp}
        onChange={onChange}
        hint={
          <>
            Every signature the policy allows gets an RFC 3161 token from the deployment's <Link to="/console/timestamping">time-stamping authorities</Link>; without one it is not returned.
            {form.action !== "allow" && " Only an allow policy can require one."}
          </>
        }
      />
      {error && <p className="field-error">{error}</p>}
    </>
  );
}
