import { useCallback, useEffect, useState } from "react";
import { api } from "../../api/client";
import { type Shown } from "../../api/problem";
import { allPages } from "../../ui/Pager";
import type { Role } from "./roleForm";

// allRoles reads every role of the deployment, built-in first, page by page.
export async function allRoles(): Promise<{ roles: Role[] } | { problem: Shown }> {
  const r = await allPages((cursor) => api.GET("/console/roles", { params: { query: { limit: 100, cursor } } }));
  return "items" in r ? { roles: r.items } : { problem: r.problem };
}

// useCustomRoles reads the deployment's custom roles, for the users pages: the choices of the
// custom role select, and the names of the roles users hold. A refusal leaves the list empty
// (the users pages show the role's id instead of its name).
export function useCustomRoles() {
  const [custom, setCustom] = useState<Role[]>([]);
  const [loaded, setLoaded] = useState(false);
  const load = useCallback(async () => {
    const got = await allRoles();
    if ("roles" in got) setCustom(got.roles.filter((r) => !r.builtIn).sort((a, b) => a.name.localeCompare(b.name)));
    setLoaded(true);
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  const names: Record<string, string> = Object.fromEntries(custom.map((r) => [r.id, r.name]));
  return { custom, names, loaded };
}

// roleName is how the users pages show a user's custom role.
export function roleName(id: string, names: Record<string, string>): string {
  if (!id) return "none";
  return names[id] ?? id;
}
