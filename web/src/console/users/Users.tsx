import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { Field, SelectField } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { Pager, useCursorList } from "../../ui/Pager";
import { can, useSession } from "../../session";
import { explain, when } from "../certificates/common";
import { PasswordField, usePasswordPolicy } from "./PasswordField";
import { roleName, useCustomRoles } from "../roles/useRoles";
import "../certificates/certificates.css";

type User = Schemas["ConsoleUser"];
type Role = Schemas["AssignableConsoleRole"];

export const roleChoices: { value: Role; label: string; hint: string }[] = [
  { value: "console-admin", label: "console-admin", hint: "administers the console" },
  { value: "console-viewer", label: "console-viewer", hint: "reads the console, changes nothing" },
  { value: "signer", label: "signer", hint: "signs with the certificates the policies allow" },
];

// RoleChecks is the roles a console admin can give, as a group of checkboxes.
export function RoleChecks({ roles, onChange, legend, error }: { roles: Role[]; onChange(r: Role[]): void; legend: string; error?: string }) {
  return (
    <fieldset aria-describedby={error ? "roles-error" : undefined}>
      <legend>{legend}</legend>
      <div className="checks">
        {roleChoices.map((r) => (
          <label key={r.value}>
            <input
              type="checkbox"
              checked={roles.includes(r.value)}
              onChange={(e) => onChange(e.target.checked ? [...roles, r.value] : roles.filter((x) => x !== r.value))}
            />
            {r.label} <span className="subtle">({r.hint})</span>
          </label>
        ))}
      </div>
      {error && (
        <div id="roles-error" className="field-error">
          {error}
        </div>
      )}
    </fieldset>
  );
}

// CustomRoleSelect chooses a user's custom role (or none) among the deployment's custom
// roles: for the Signum Administrator only, who alone gives them.
export function CustomRoleSelect({ value, onChange, custom, label, error }: {
  value: string;
  onChange(id: string): void;
  custom: { id: string; name: string }[];
  label: string;
  error?: string;
}) {
  const options = [{ value: "", label: "None" }, ...custom.map((r) => ({ value: r.id, label: r.name }))];
  // A role the list does not hold (being loaded, or gone) is still shown as chosen.
  if (value && !custom.some((r) => r.id === value)) options.push({ value, label: value });
  return (
    <SelectField
      label={label}
      value={value}
      onChange={(e) => onChange(e.target.value)}
      options={options}
      error={error}
      hint="Beside the built-in roles: a level per area and rights per certificate group (see Roles)."
    />
  );
}

export function UserState({ u }: { u: User }) {
  return (
    <>
      <span className={`badge ${u.status}`}>{u.status}</span> {u.locked && <span className="badge locked">locked</span>}
    </>
  );
}

// ConsoleUsers lists the deployment's console users, those who log in with a password and
// the certificate users who authenticate with a client certificate, and lets a console admin
// create either.
export function ConsoleUsers() {
  const { session } = useSession();
  const admin = can(session, "console-admin", "signum-administrator");
  const roles = useCustomRoles();
  const { pages, list, problem } = useCursorList((cursor) => api.GET("/console/users", { params: { query: { limit: 25, cursor } } }));

  return (
    <Page title="Console users">
      <p>
        Users of the Local users domain. A password user logs in to the console; a certificate user (an agent or CI job) has
        no password and authenticates over mutual TLS with the client certificates registered for it.
      </p>
      {problem?.status === 403 ? <Forbidden what="reading the console users" /> : <ProblemBox problem={problem} />}
      {!list && !problem && <p role="status">Loading users…</p>}
      {list && (
        <>
          <TableWrap label="Console users" caption={`Console users, page ${pages.index + 1}`}>
            <thead>
              <tr>
                <th scope="col">User name</th>
                <th scope="col">Name</th>
                <th scope="col">Signs in with</th>
                <th scope="col">Roles</th>
                <th scope="col">Custom role</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((u) => (
                <tr key={u.id}>
                  <th scope="row">
                    <Link to={`/console/users/${u.id}`}>{u.username}</Link>
                  </th>
                  <td>{u.name || "—"}</td>
                  <td>{u.hasPassword ? "password" : "client certificate"}</td>
                  <td>{u.roles.length ? u.roles.join(", ") : "none"}</td>
                  <td>{roleName(u.role, roles.names)}</td>
                  <td>
                    <UserState u={u} />
                  </td>
                  <td>{when(u.createdAt)}</td>
                </tr>
              ))}
              {list.items.length === 0 && (
                <tr>
                  <td colSpan={7}>No console users yet.</td>
                </tr>
              )}
            </tbody>
          </TableWrap>
          <Pager pages={pages} next={list.next} label="Pages of users" numbered />
        </>
      )}
      {admin ? <CreateUser custom={can(session, "signum-administrator") ? roles.custom : null} /> : <p className="notice">Only a console admin can create users.</p>}
    </Page>
  );
}

// CreateUser is the create form; custom are the custom roles to choose from, null when the
// caller may not give one (only the Signum Administrator may).
function CreateUser({ custom }: { custom: { id: string; name: string }[] | null }) {
  const navigate = useNavigate();
  const policy = usePasswordPolicy();
  const [kind, setKind] = useState<"password" | "certificate">("password");
  const [username, setUsername] = useState("");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [roles, setRoles] = useState<Role[]>(["signer"]);
  const [customRole, setCustomRole] = useState("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.POST("/console/users", {
      body: {
        username: username.trim(),
        name: name.trim() || undefined,
        email: email.trim() || undefined,
        password: kind === "password" ? password : undefined,
        roles,
        role: custom && customRole ? customRole : undefined,
      },
    });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      return;
    }
    navigate(`/console/users/${data.id}`, { state: { created: kind } });
  }

  const f = problem?.fields ?? {};
  return (
    <section className="section" aria-labelledby="create-user">
      <h2 id="create-user">Create a user</h2>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <fieldset>
          <legend>Kind of user</legend>
          <div className="checks">
            <label>
              <input type="radio" name="kind" value="password" checked={kind === "password"} onChange={() => setKind("password")} /> Password user (logs in to the console)
            </label>
            <label>
              <input type="radio" name="kind" value="certificate" checked={kind === "certificate"} onChange={() => setKind("certificate")} /> Certificate user (no password; mutual TLS)
            </label>
          </div>
        </fieldset>
        <Field label="User name" required autoComplete="off" minLength={3} maxLength={64} value={username} onChange={(e) => setUsername(e.target.value)} error={f.username} hint="3 to 64 letters, digits, ., _, - or @." />
        <Field label="Name" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} error={f.name} hint="For people; optional." />
        <Field label="E-mail" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={f.email} hint="Optional." />
        <RoleChecks legend="Roles" roles={roles} onChange={setRoles} error={f.roles} />
        {custom && <CustomRoleSelect label="Custom role" value={customRole} onChange={setCustomRole} custom={custom} error={f.role} />}
        {kind === "password" ? (
          <PasswordField label="Password" required value={password} onChange={setPassword} username={username} policy={policy} error={f.password} />
        ) : (
          <p className="notice">After creating it, register the user's client certificate (or an issuing CA) on its page.</p>
        )}
        <button type="submit" disabled={busy}>
          {kind === "password" ? "Create user" : "Create certificate user"}
        </button>
      </form>
    </section>
  );
}
