import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from "react";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { ConfirmDelete } from "../../ui/ConfirmDelete";
import { CheckField, Field } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { can, useSession } from "../../session";
import {
  areas,
  areaSummary,
  bodyOf,
  domainLabel,
  emptyForm,
  everyDomain,
  everyGroup,
  formOf,
  groupSummary,
  levels,
  localDomain,
  certificateDomain,
  rights,
  rightsOf,
  toggle,
  toggleDomain,
  type Level,
  type Role,
  type RoleForm,
} from "./roleForm";
import { allRoles } from "./useRoles";
import { allGroups } from "../groups/GroupPicker";
import "./roles.css";

type Group = Schemas["CertificateGroup"];

// Roles lists the console's roles: the built-in ones, read-only, and the custom roles the
// Signum Administrator makes with a level per area, rights per certificate group and the
// domains whose users they manage. Only the Signum Administrator creates, changes and deletes
// them; a role can be deleted only when no user holds it.
export function Roles() {
  const { session } = useSession();
  const admin = can(session, "signum-administrator");
  const [roles, setRoles] = useState<Role[] | null>(null);
  const [groups, setGroups] = useState<Group[]>([]);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [notice, setNotice] = useState("");
  // editing is the custom role in the editor; null: the editor creates one.
  const [editing, setEditing] = useState<Role | null>(null);

  const load = useCallback(async () => {
    const got = await allRoles();
    if ("problem" in got) {
      if (got.problem.status === 403) setForbidden(true);
      else setProblem(got.problem);
      return;
    }
    setProblem(null);
    setRoles(got.roles);
    const g = await allGroups();
    if ("problem" in g) {
      setProblem(g.problem);
      return;
    }
    setGroups(g.groups);
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const names: Record<string, string> = Object.fromEntries(groups.map((g) => [g.id, g.name]));
  const done = (msg: string) => {
    setNotice(msg);
    setEditing(null);
    void load();
  };

  if (forbidden) {
    return (
      <Page title="Roles">
        <Forbidden what="reading the roles" />
      </Page>
    );
  }
  return (
    <Page title="Roles">
      <p>
        A role says what a console user may do: a level in each area of the console, rights on the certificates of each
        certificate group, and the domains whose users it manages. The built-in roles cannot be changed. Only the Signum
        Administrator creates, changes and deletes custom roles and gives them to users; a role can be deleted only when no
        user holds it.
      </p>
      <div role="status">{notice && <p className="notice">{notice}</p>}</div>
      <ProblemBox problem={problem} />
      {roles === null && !problem && <p role="status">Loading the roles…</p>}
      {roles && (
        <TableWrap label="Roles" caption="Built-in and custom roles">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Users</th>
              <th scope="col">Areas</th>
              <th scope="col">Certificate groups</th>
              <th scope="col">Manages users of</th>
              {admin && <th scope="col">Change</th>}
            </tr>
          </thead>
          <tbody>
            {roles.map((r) => (
              <RoleRow key={r.id} role={r} names={names} admin={admin} onEdit={() => setEditing(r)} onDone={done} />
            ))}
          </tbody>
        </TableWrap>
      )}
      {admin ? (
        roles && <RoleEditor key={editing?.id ?? "new"} role={editing} groups={groups} onDone={done} onCancel={() => setEditing(null)} />
      ) : (
        <p className="notice">Only the Signum Administrator can change roles.</p>
      )}
    </Page>
  );
}

function RoleRow({ role, names, admin, onEdit, onDone }: { role: Role; names: Record<string, string>; admin: boolean; onEdit(): void; onDone(msg: string): void }) {
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);

  async function remove() {
    setBusy(true);
    const { error, response } = await api.DELETE("/console/roles/{roleId}", {
      params: { path: { roleId: role.id }, header: { "If-Match": `"${role.version}"` } },
    });
    setBusy(false);
    if (!response.ok) {
      const p = show(error, response);
      if (response.status === 412) p.detail = "Someone changed this role since the page loaded it. Reload the page and try again.";
      setProblem(p);
      return;
    }
    onDone(`Role “${role.name}” was deleted.`);
  }

  return (
    <tr>
      <th scope="row">
        {role.name}
        <div className="subtle mono">{role.id}</div>
      </th>
      <td>{role.builtIn ? <span className="role-kind">built-in, read-only</span> : "custom"}</td>
      <td>{role.builtIn ? "—" : role.userCount}</td>
      <td>{areaSummary(role)}</td>
      <td>{groupSummary(role, names)}</td>
      <td>{role.domains.length ? role.domains.map(domainLabel).join(", ") : "none"}</td>
      {admin && (
        <td>
          {role.builtIn ? (
            <span className="subtle">cannot be changed</span>
          ) : (
            <>
              <ProblemBox problem={problem} />
              <div className="row">
                <button type="button" className="secondary" onClick={onEdit}>
                  Edit {role.name}
                </button>
                <ConfirmDelete
                  what="this role"
                  name={role.name}
                  buttonLabel={`Delete ${role.name}`}
                  busy={busy}
                  consequence={<p>The role goes; no user may hold it (the service refuses otherwise and says how many do).</p>}
                  onConfirm={remove}
                />
              </div>
            </>
          )}
        </td>
      )}
    </tr>
  );
}

// RoleEditor creates a custom role, or changes role (with If-Match), with the permission grid:
// a level per area, rights per certificate group, the domains.
function RoleEditor({ role, groups, onDone, onCancel }: { role: Role | null; groups: Group[]; onDone(msg: string): void; onCancel(): void }) {
  const [form, setForm] = useState<RoleForm>(() => (role ? formOf(role) : emptyForm()));
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const headingId = useId();
  useEffect(() => {
    if (role) heading.current?.focus();
  }, [role]);
  // The deployment's own domains (OIDC, SAML, CI), whose users a role may manage; the first
  // page is enough for a choice list (the built-in ones are always offered).
  const [made, setMade] = useState<{ id: string; name: string; alias?: string }[]>([]);
  useEffect(() => {
    void api.GET("/console/domains", { params: { query: { limit: 100 } } }).then(({ data }) => data && setMade(data.items.filter((d) => !d.builtIn)));
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const body = bodyOf(form);
    const { data, error, response } = role
      ? await api.PATCH("/console/roles/{roleId}", { params: { path: { roleId: role.id }, header: { "If-Match": `"${role.version}"` } }, body })
      : await api.POST("/console/roles", { body });
    setBusy(false);
    if (!data) {
      const p = show(error, response);
      if (response.status === 412) p.detail = "Someone changed this role since the page loaded it. Reload the page and make your change again.";
      setProblem(p);
      return;
    }
    setProblem(null);
    onDone(role ? `Role “${data.name}” was saved.` : `Role “${data.name}” was created.`);
  }

  const f = problem?.fields ?? {};
  const fieldsUnder = (prefix: string) =>
    Object.entries(f)
      .filter(([k]) => k === prefix || k.startsWith(prefix + ".") || k.startsWith(prefix + "["))
      .map(([k, v]) => (k === prefix ? v : `${k.slice(prefix.length + 1).replace(/\]$/, "")}: ${v}`));
  // The groups rows: every group, the deployment's groups by name, and groups the role names
  // that are gone.
  const rows: { id: string; name: string }[] = [
    { id: everyGroup, name: "Every group (*)" },
    ...groups.map((g) => ({ id: g.id, name: g.name })),
    ...Object.keys(form.groups)
      .filter((id) => id !== everyGroup && !groups.some((g) => g.id === id))
      .map((id) => ({ id, name: `${id} (deleted group)` })),
  ];
  // The domains: every domain, the built-in ones, the deployment's own (by name), and any the
  // role names that are gone.
  const builtIn = [everyDomain, localDomain, certificateDomain];
  const domains = [
    ...builtIn.map((id) => ({ id, name: id === everyDomain ? "Every domain (*)" : domainLabel(id) })),
    ...made.map((d) => ({ id: d.id, name: `${d.name} (user@${d.alias})` })),
    ...form.domains.filter((d) => !builtIn.includes(d) && !made.some((m) => m.id === d)).map((id) => ({ id, name: `${id} (deleted domain)` })),
  ];
  const groupErrors = fieldsUnder("groups");
  const domainErrors = fieldsUnder("domains");

  return (
    <section className="section" aria-labelledby={headingId}>
      <h2 id={headingId} ref={heading} tabIndex={-1}>
        {role ? `Edit ${role.name}` : "Create a role"}
      </h2>
      <form onSubmit={submit} className="form role-form">
        <ProblemBox problem={problem} />
        <Field label="Role name" required maxLength={64} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} error={f.name} />
        <Field label="Description" maxLength={500} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} error={f.description} hint="Optional: what the role is for." />

        <h3>Areas</h3>
        <TableWrap label="Level per area" caption="What the role may do in each area of the console">
          <thead>
            <tr>
              <th scope="col">Area</th>
              <th scope="col">Level</th>
            </tr>
          </thead>
          <tbody>
            {areas.map((a) => (
              <AreaRow key={a.key} label={a.label} hint={a.hint} value={form.areas[a.key]} error={f[`areas.${a.key}`]}
                onChange={(l) => setForm({ ...form, areas: { ...form.areas, [a.key]: l } })} />
            ))}
          </tbody>
        </TableWrap>
        <p className="hint">none: the area's pages are closed; read: see them; manage: change them too.</p>

        <h3>Certificate groups</h3>
        <p className="hint">Which certificates the role's users see, add, remove (change, disable, delete) and assign to policies. Every other right includes View.</p>
        {groupErrors.length > 0 && (
          <div className="field-error" role="alert">
            {groupErrors.join(" ")}
          </div>
        )}
        <TableWrap label="Rights per certificate group" caption="Rights on the certificates of each group">
          <thead>
            <tr>
              <th scope="col">Group</th>
              {rights.map((r) => (
                <th scope="col" key={r.key}>
                  {r.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((g) => (
              <tr key={g.id}>
                <th scope="row">{g.name}</th>
                {rights.map((r) => (
                  <td key={r.key} className="grid-cell">
                    <input
                      type="checkbox"
                      aria-label={`${r.label} for ${g.name}`}
                      checked={!!rightsOf(form, g.id)[r.key]}
                      onChange={(e) => setForm(toggle(form, g.id, r.key, e.target.checked))}
                    />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </TableWrap>

        <fieldset>
          <legend>Manages the users of</legend>
          <p className="hint">With Users at manage: the domains whose users the role's users may change.</p>
          {domains.map((d) => (
            <CheckField key={d.id} label={d.name} checked={form.domains.includes(d.id)} onChange={(on) => setForm(toggleDomain(form, d.id, on))} />
          ))}
          {domainErrors.length > 0 && <div className="field-error">{domainErrors.join(" ")}</div>}
        </fieldset>

        <div className="row">
          <button type="submit" disabled={busy}>
            {role ? "Save role" : "Create role"}
          </button>
          {role && (
            <button type="button" className="secondary" onClick={onCancel}>
              Cancel
            </button>
          )}
        </div>
      </form>
    </section>
  );
}

function AreaRow({ label, hint, value, error, onChange }: { label: string; hint: string; value: Level; error?: string; onChange(l: Level): void }) {
  const id = useId();
  return (
    <tr>
      <th scope="row">
        <label htmlFor={id}>
          <span className="sr-only">Level for </span>
          {label}
        </label>
        <div className="subtle">{hint}</div>
      </th>
      <td>
        <select id={id} value={value} aria-invalid={error ? true : undefined} aria-describedby={error ? id + "-error" : undefined} onChange={(e) => onChange(e.target.value as Level)}>
          {levels.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
        {error && (
          <div id={id + "-error"} className="field-error">
            {error}
          </div>
        )}
      </td>
    </tr>
  );
}
