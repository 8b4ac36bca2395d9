// The portal's password rules (docs/openapi.yaml, Password), checked as the user types. The
// API checks them again; its answer is the one that counts.
export interface Rule {
  label: string;
  ok: boolean;
}

export function portalPasswordRules(password: string, email: string): Rule[] {
  return [
    { label: "At least 12 characters", ok: [...password].length >= 12 },
    { label: "An upper-case letter", ok: /\p{Lu}/u.test(password) },
    { label: "A lower-case letter", ok: /\p{Ll}/u.test(password) },
    { label: "A digit", ok: /\p{Nd}/u.test(password) },
    { label: "Not your e-mail address", ok: password === "" || password.toLowerCase() !== email.trim().toLowerCase() },
    { label: "At most 256 bytes", ok: new TextEncoder().encode(password).length <= 256 },
  ];
}
