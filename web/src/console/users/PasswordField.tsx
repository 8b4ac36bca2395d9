import { useEffect, useState } from "react";
import { api, type Schemas } from "../../api/client";
import { Field } from "../../ui/Field";
import { PasswordRules } from "../../ui/PasswordRules";
import { consolePasswordRules } from "./password";

// usePasswordPolicy reads the Local users domain's password policy once; null until read (or
// when the role may not read it: the API still checks every password).
export function usePasswordPolicy() {
  const [policy, setPolicy] = useState<Schemas["PasswordPolicy"] | null>(null);
  useEffect(() => {
    void api.GET("/console/domains/local").then(({ data }) => data && setPolicy(data.passwordPolicy));
  }, []);
  return policy;
}

// PasswordField is a new console password with the domain's rules ticked off as one types.
export function PasswordField({ label, value, onChange, username, policy, error, required }: {
  label: string;
  value: string;
  onChange(v: string): void;
  username: string;
  policy: Schemas["PasswordPolicy"] | null;
  error?: string;
  required?: boolean;
}) {
  const rules = policy ? consolePasswordRules(value, username, policy) : [];
  return (
    <Field
      label={label}
      type="password"
      autoComplete="new-password"
      required={required}
      value={value}
      onChange={(e) => onChange(e.target.value)}
      error={error}
      hint={
        policy ? (
          <>
            <PasswordRules rules={rules} label="Password rules of the Local users domain" />
            {policy.maxAgeDays > 0 && <span>Passwords expire after {policy.maxAgeDays} days.</span>}
          </>
        ) : (
          "The Local users domain's password policy applies."
        )
      }
    />
  );
}
