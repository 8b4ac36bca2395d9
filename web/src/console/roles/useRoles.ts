import { useCallback, useEffect, useState } from "react";
import { api } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import type { Role } from "./roleForm";

// allRoles reads every role of the deployment, built-in first, page by page.
export async function allRoles(): Promise<{ roles: Role[] } | { problem: Shown }> {
  const roles: Role[] = [];
  let cursor: string | undefined;
  do {
    const { data, error, response } = await api.GET("/console/roles", { params: { query: { limit: 100, cursor } } });
    if (!data) return { problem: show(error, response) };
    roles.push(...data.items);
    cursor = data.next ?? undefined;
  } while (cursor);
  return { roles };
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
