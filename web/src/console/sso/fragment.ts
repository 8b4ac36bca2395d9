// What the console's login page finds in its URL's fragment, which browsers never send to a
// server: a console token (the portal opening the console, or the end of a login at an OIDC
// or SAML domain's identity provider: #token=...&expiresAt=...), the refusal of such a login
// (#error=<detail>&status=<HTTP status>), or the outcome of a test login, which logs nobody
// in (#test=<what a login would do>; the domains page's "Test login").
import type { Shown } from "../../api/problem";

export type LoginFragment =
  | { kind: "token"; token: string; expiresAt: string }
  | { kind: "error"; problem: Shown }
  | { kind: "test"; text: string };

// titles say, by the refusal's status, what happened; the detail says why.
const titles: Record<number, string> = {
  400: "The login could not start",
  401: "The identity provider's answer was refused",
  403: "You may not log in to this console",
  404: "The login could not start",
  409: "You cannot be added to this console",
  429: "Too many logins",
  503: "The identity provider or the service cannot be reached",
};

// readLoginFragment reads hash (location.hash, with or without its "#"); null when it says
// nothing about a login.
export function readLoginFragment(hash: string): LoginFragment | null {
  const f = new URLSearchParams(hash.startsWith("#") ? hash.slice(1) : hash);
  const token = f.get("token");
  if (token) return { kind: "token", token, expiresAt: f.get("expiresAt") ?? "" };
  const error = f.get("error");
  if (error === null) {
    const test = f.get("test");
    return test ? { kind: "test", text: test } : null;
  }
  const status = Number(f.get("status"));
  const known = Number.isInteger(status) && status >= 400 && status <= 599;
  return {
    kind: "error",
    problem: {
      title: (known && titles[status]) || "The login failed",
      detail: error || undefined,
      status: known ? status : undefined,
      fields: {},
    },
  };
}

// loginHref is where a browser starts a login at domain id's identity provider: the API, on
// this deployment's host, which sends it on to the IdP.
export function loginHref(id: string): string {
  return `/console/domains/${encodeURIComponent(id)}/login`;
}
