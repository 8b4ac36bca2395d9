// The Local users domain's password rules (its passwordPolicy, GET /console/domains/local,
// and the rules every password meets: docs/openapi.yaml, Password), checked as the admin
// types. The API checks them again; its answer is the one that counts.
import type { Schemas } from "../../api/client";

export interface Rule {
  label: string;
  ok: boolean;
}

type Policy = Schemas["PasswordPolicy"];

export function consolePasswordRules(password: string, username: string, policy: Policy): Rule[] {
  const rules: Rule[] = [{ label: `At least ${policy.minLength} characters`, ok: [...password].length >= policy.minLength }];
  if (policy.requireUpper) rules.push({ label: "An upper-case letter", ok: /\p{Lu}/u.test(password) });
  if (policy.requireLower) rules.push({ label: "A lower-case letter", ok: /\p{Ll}/u.test(password) });
  if (policy.requireDigit) rules.push({ label: "A digit", ok: /\p{Nd}/u.test(password) });
  // A symbol is any character that is neither a letter nor a digit, space included.
  if (policy.requireSymbol) rules.push({ label: "A symbol (not a letter or digit)", ok: /[^\p{L}\p{Nd}\p{Cc}]/u.test(password) });
  rules.push(
    { label: "Not the user name", ok: password === "" || password.toLowerCase() !== username.trim().toLowerCase() },
    { label: "No control characters", ok: !/\p{Cc}/u.test(password) },
    { label: "At most 256 bytes", ok: new TextEncoder().encode(password).length <= 256 },
  );
  return rules;
}
