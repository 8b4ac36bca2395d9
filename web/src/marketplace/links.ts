// firstAdminPath is the portal's registration page (under the app's base) with the first
// Admin's deployment link token and, when the link is bound to one, the address that may use
// it (the page fills it in).
export function firstAdminPath(token: string, email?: string): string {
  const q = new URLSearchParams({ token });
  if (email) q.set("email", email);
  return `/portal/register?${q.toString()}`;
}
