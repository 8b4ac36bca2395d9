import { useCallback, useEffect, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { ConfirmDelete } from "../../ui/ConfirmDelete";
import { Field, SelectField } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { can, useSession } from "../../session";
import { PemInput, day, explain, when } from "../certificates/common";
import { PasswordField, usePasswordPolicy } from "./PasswordField";
import { CustomRoleSelect, RoleChecks, UserState } from "./Users";
import { roleName, useCustomRoles } from "../roles/useRoles";
import "../certificates/certificates.css";

type User = Schemas["ConsoleUser"];
type Credential = Schemas["ClientCertificate"];
type Rule = Schemas["ClientCertificateRule"];
type Patch = Schemas["ConsoleUserPatch"];

// ConsoleUserDetail shows one console user and, for a console admin, changes it: roles,
// enabling, unlocking, a new password, deletion; and the client certificates (pinned, or
// issuing CAs with rules) it authenticates with over mutual TLS, with their revocations.
export function ConsoleUserDetail() {
  const { userId = "" } = useParams();
  const { session } = useSession();
  const admin = can(session, "console-admin", "signum-administrator");
  const sa = can(session, "signum-administrator");
  const customRoles = useCustomRoles();
  const location = useLocation();
  const navigate = useNavigate();
  const created = (location.state as { created?: string } | null)?.created;
  const [user, setUser] = useState<User | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [notice, setNotice] = useState(created === "certificate" ? "Certificate user created: register its client certificate below." : created ? "User created." : "");
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/console/users/{userId}", { params: { path: { userId } } });
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setUser(data);
  }, [userId]);
  useEffect(() => {
    void load();
  }, [load]);

  // patch sends one change and says what happened; the page's problem box shows a refusal.
  async function patch(body: Patch, what: string): Promise<boolean> {
    setBusy(true);
    const { data, error, response } = await api.PATCH("/console/users/{userId}", { params: { path: { userId } }, body });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      setNotice("");
      return false;
    }
    setProblem(null);
    setUser(data);
    setNotice(what);
    return true;
  }

  async function remove() {
    setBusy(true);
    const { error, response } = await api.DELETE("/console/users/{userId}", { params: { path: { userId } } });
    setBusy(false);
    if (!response.ok) {
      setProblem(explain(show(error, response)));
      return;
    }
    navigate("/console/users");
  }

  if (!user) {
    return (
      <Page title="Console user">
        {problem?.status === 403 ? <Forbidden what="reading console users" /> : <ProblemBox problem={problem} />}
        {!problem && <p role="status">Loading…</p>}
        <p>
          <Link to="/console/users">All users</Link>
        </p>
      </Page>
    );
  }

  return (
    <Page title={user.name ? `${user.name} (${user.username})` : user.username}>
      <p>
        <Link to="/console/users">All users</Link>
      </p>
      <div role="status">{notice && <p className="notice">{notice}</p>}</div>
      <ProblemBox problem={problem} />
      <dl className="facts">
        <dt>Id</dt>
        <dd className="mono">{user.id}</dd>
        <dt>User name</dt>
        <dd>{user.username}</dd>
        <dt>Name</dt>
        <dd>{user.name || "—"}</dd>
        <dt>E-mail</dt>
        <dd>{user.email ?? "—"}</dd>
        <dt>Signs in with</dt>
        <dd>{user.hasPassword ? "a password (and any client certificates below)" : "client certificates only (certificate user)"}</dd>
        <dt>Roles</dt>
        <dd>{user.roles.length ? user.roles.join(", ") : "none"}</dd>
        <dt>Custom role</dt>
        <dd>{roleName(user.role, customRoles.names)}</dd>
        <dt>Status</dt>
        <dd>
          <UserState u={user} />
        </dd>
        <dt>Created</dt>
        <dd>
          {when(user.createdAt)} (version {user.version})
        </dd>
      </dl>

      {admin && <Roles user={user} busy={busy} onSave={(roles) => patch({ roles }, "Roles saved. The user's sessions have ended; it logs in again with the new roles.")} />}

      {sa && (
        <CustomRole user={user} busy={busy} custom={customRoles.custom} error={problem?.fields.role}
          onSave={(role) => patch({ role }, role ? `Custom role “${roleName(role, customRoles.names)}” given.` : "Custom role taken away.")} />
      )}

      {admin && (
        <section className="section" aria-labelledby="access">
          <h2 id="access">Access</h2>
          <div className="row">
            {user.status === "active" ? (
              <button type="button" className="secondary" disabled={busy} onClick={() => patch({ status: "disabled" }, "User disabled: it cannot log in or use its certificates, and its sessions have ended.")}>
                Disable user
              </button>
            ) : (
              <button type="button" disabled={busy} onClick={() => patch({ status: "active" }, "User enabled.")}>
                Enable user
              </button>
            )}
            {user.locked && (
              <button type="button" disabled={busy} onClick={() => patch({ unlock: true }, "Lockout lifted.")}>
                Unlock user
              </button>
            )}
          </div>
        </section>
      )}

      {admin && <NewPassword user={user} busy={busy} onSave={(password) => patch({ password }, user.hasPassword ? "Password reset; the user's sessions have ended." : "Password set: the user can now log in to the console too.")} />}

      <ClientCertificates userId={user.id} admin={admin} />

      {admin && (
        <section className="section" aria-labelledby="delete-user">
          <h2 id="delete-user">Delete</h2>
          <p>Deleting frees the user name and removes the user's client certificates; revocations stay.</p>
          <ConfirmDelete what="user" name={user.username} buttonLabel="Delete user…" busy={busy} onConfirm={remove} consequence={<p>{user.username} can no longer log in or authenticate with its client certificates.</p>} />
        </section>
      )}
      {!admin && <p className="notice">Your role can read this user; only a console admin can change it.</p>}
    </Page>
  );
}

function Roles({ user, busy, onSave }: { user: User; busy: boolean; onSave(r: Schemas["AssignableConsoleRole"][]): Promise<boolean> }) {
  const [roles, setRoles] = useState(user.roles);
  useEffect(() => setRoles(user.roles), [user]);
  return (
    <section className="section" aria-labelledby="roles">
      <h2 id="roles">Roles</h2>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          void onSave(roles);
        }}
      >
        <RoleChecks legend="Roles of this user" roles={roles} onChange={setRoles} />
        <button type="submit" disabled={busy}>
          Save roles
        </button>
      </form>
    </section>
  );
}

// CustomRole gives, changes or takes away the user's custom role: the Signum Administrator only.
function CustomRole({ user, busy, custom, error, onSave }: { user: User; busy: boolean; custom: { id: string; name: string }[]; error?: string; onSave(role: string): Promise<boolean> }) {
  const [role, setRole] = useState(user.role);
  useEffect(() => setRole(user.role), [user]);
  return (
    <section className="section" aria-labelledby="custom-role">
      <h2 id="custom-role">Custom role</h2>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          void onSave(role);
        }}
      >
        <CustomRoleSelect label="Custom role of this user" value={role} onChange={setRole} custom={custom} error={error} />
        <button type="submit" disabled={busy || role === user.role}>
          Save custom role
        </button>
      </form>
    </section>
  );
}

function NewPassword({ user, busy, onSave }: { user: User; busy: boolean; onSave(p: string): Promise<boolean> }) {
  const policy = usePasswordPolicy();
  const [password, setPassword] = useState("");
  return (
    <section className="section" aria-labelledby="password">
      <h2 id="password">{user.hasPassword ? "Reset the password" : "Give a password"}</h2>
      {!user.hasPassword && <p>A certificate user has no password. Giving it one lets it log in to the console too; a password cannot be removed again.</p>}
      <form
        className="form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await onSave(password)) setPassword("");
        }}
      >
        <PasswordField label="New password" required value={password} onChange={setPassword} username={user.username} policy={policy} />
        <button type="submit" disabled={busy}>
          {user.hasPassword ? "Reset password" : "Set password"}
        </button>
      </form>
    </section>
  );
}

function ClientCertificates({ userId, admin }: { userId: string; admin: boolean }) {
  const [items, setItems] = useState<Credential[] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [notice, setNotice] = useState("");

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/console/users/{userId}/client-certificates", { params: { path: { userId }, query: { limit: 20 } } });
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    // The list leaves out revocations; each credential's own answer carries them.
    const full = await Promise.all(
      data.items.map(async (c) => {
        const one = await api.GET("/console/users/{userId}/client-certificates/{credentialId}", { params: { path: { userId, credentialId: c.id } } });
        return one.data ?? c;
      }),
    );
    setItems(full);
  }, [userId]);
  useEffect(() => {
    void load();
  }, [load]);

  async function remove(c: Credential) {
    const { error, response } = await api.DELETE("/console/users/{userId}/client-certificates/{credentialId}", { params: { path: { userId, credentialId: c.id } } });
    if (!response.ok) {
      setProblem(explain(show(error, response)));
      return;
    }
    setProblem(null);
    setNotice(`Removed ${c.name ?? c.subject}: it no longer authenticates this user.`);
    await load();
  }

  return (
    <section className="section" aria-labelledby="client-certs">
      <h2 id="client-certs">Client certificates</h2>
      <p>Certificates this user authenticates with over mutual TLS: its own certificate (pinned), or an issuing CA whose certificates match rules.</p>
      <div role="status">{notice && <p className="notice">{notice}</p>}</div>
      {problem?.status === 403 ? <Forbidden what="this" /> : <ProblemBox problem={problem} />}
      {items && (
        <TableWrap label="Client certificates" caption="Client certificates of this user">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Subject and issuer</th>
              <th scope="col">Serial</th>
              <th scope="col">Valid until</th>
              <th scope="col">Rules</th>
              <th scope="col">Revoked serials</th>
              {admin && <th scope="col">Remove</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.id}>
                <th scope="row">{c.name ?? <span className="mono">{c.id}</span>}</th>
                <td>{c.kind === "ca" ? "issuing CA" : "pinned certificate"}</td>
                <td>
                  <div className="mono">{c.subject}</div>
                  <div className="subtle mono">issued by {c.issuer}</div>
                </td>
                <td className="mono">{c.serial}</td>
                <td>{day(c.notAfter)}</td>
                <td>
                  {c.rules.length === 0
                    ? "—"
                    : c.rules.map((r, i) => (
                        <div key={i} className="mono">
                          {r.field} ~ {r.pattern}
                        </div>
                      ))}
                </td>
                <td>
                  {c.revocations?.length
                    ? c.revocations.map((r) => (
                        <div key={r.serial} className="mono">
                          {r.serial}
                          {r.reason && <span className="subtle"> ({r.reason})</span>}
                        </div>
                      ))
                    : "—"}
                </td>
                {admin && (
                  <td>
                    <ConfirmDelete
                      what="client certificate"
                      name={c.name ?? c.serial}
                      buttonLabel={`Remove ${c.name ?? c.serial}…`}
                      onConfirm={() => remove(c)}
                      consequence={<p>{c.kind === "ca" ? "No certificate this CA issues" : "This certificate"} authenticates the user any more. Its revocations stay.</p>}
                    />
                  </td>
                )}
              </tr>
            ))}
            {items.length === 0 && (
              <tr>
                <td colSpan={admin ? 8 : 7}>None registered.</td>
              </tr>
            )}
          </tbody>
        </TableWrap>
      )}
      {admin && (
        <>
          <Register userId={userId} onDone={(c) => { setNotice(`Registered ${c.name ?? c.subject}.`); void load(); }} />
          {items && items.length > 0 && <Revoke userId={userId} items={items} onDone={(r) => { setNotice(`Serial ${r.serial} of ${r.issuer} revoked.`); void load(); }} />}
        </>
      )}
    </section>
  );
}

const ruleFields: { value: Rule["field"]; label: string }[] = [
  { value: "subject", label: "subject" },
  { value: "san", label: "alternative name (san)" },
  { value: "serial", label: "serial" },
  { value: "issuer", label: "issuer" },
  { value: "thumbprint", label: "thumbprint" },
];

function Register({ userId, onDone }: { userId: string; onDone(c: Credential): void }) {
  const [kind, setKind] = useState<Schemas["ClientCertificateKind"]>("certificate");
  const [name, setName] = useState("");
  const [pem, setPem] = useState("");
  const [rules, setRules] = useState<Rule[]>([{ field: "subject", pattern: "" }]);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.POST("/console/users/{userId}/client-certificates", {
      params: { path: { userId } },
      body: { kind, name: name.trim() || undefined, certificate: pem, rules: kind === "ca" ? rules : undefined },
    });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      return;
    }
    setProblem(null);
    setName("");
    setPem("");
    setRules([{ field: "subject", pattern: "" }]);
    onDone(data);
  }

  const f = problem?.fields ?? {};
  return (
    <div>
      <h3>Register a client certificate</h3>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <fieldset>
          <legend>What to register</legend>
          <div className="checks">
            <label>
              <input type="radio" name="cc-kind" checked={kind === "certificate"} onChange={() => setKind("certificate")} /> The user's own certificate (pinned)
            </label>
            <label>
              <input type="radio" name="cc-kind" checked={kind === "ca"} onChange={() => setKind("ca")} /> An issuing CA, with rules
            </label>
          </div>
          {f.kind && <div className="field-error">{f.kind}</div>}
        </fieldset>
        <Field label="Label" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} error={f.name} hint="For people, such as “build agent 1”; optional." />
        <PemInput
          label={kind === "ca" ? "CA certificate (PEM)" : "Certificate (PEM)"}
          value={pem}
          onChange={setPem}
          error={f.certificate}
          derLabel="CERTIFICATE"
          accept=".pem,.crt,.cer,.der"
          hint="One certificate; never a private key."
        />
        {kind === "ca" && (
          <fieldset className="form">
            <legend>Rules: every one must match the whole value</legend>
            {f.rules && <div className="field-error">{f.rules}</div>}
            {rules.map((r, i) => (
              <div className="rule-row" key={i}>
                <SelectField
                  label={`Rule ${i + 1} field`}
                  value={r.field}
                  onChange={(e) => setRules(rules.map((x, j) => (j === i ? { ...x, field: e.target.value as Rule["field"] } : x)))}
                  error={f[`rules[${i}].field`]}
                  options={ruleFields}
                />
                <Field
                  label={`Rule ${i + 1} pattern`}
                  className="mono"
                  required
                  value={r.pattern}
                  onChange={(e) => setRules(rules.map((x, j) => (j === i ? { ...x, pattern: e.target.value } : x)))}
                  error={f[`rules[${i}].pattern`]}
                  placeholder={r.field === "subject" ? "CN=agent-[0-9]+,O=Acme" : undefined}
                />
                <button type="button" className="secondary" disabled={rules.length === 1} onClick={() => setRules(rules.filter((_, j) => j !== i))}>
                  Remove rule {i + 1}
                </button>
              </div>
            ))}
            <p className="hint">
              Regular expressions (RE2) on the subject or issuer as <span className="mono">CN=…,O=…</span>, an alternative name, the serial in lower-case hex or the SHA-256 thumbprint.
              <span className="mono"> .*</span> on the subject accepts every certificate the CA issues.
            </p>
            <div>
              <button type="button" className="secondary" disabled={rules.length >= 10} onClick={() => setRules([...rules, { field: "subject", pattern: "" }])}>
                Add a rule
              </button>
            </div>
          </fieldset>
        )}
        <button type="submit" disabled={busy || !pem.trim()}>
          {kind === "ca" ? "Register CA" : "Register certificate"}
        </button>
      </form>
    </div>
  );
}

function Revoke({ userId, items, onDone }: { userId: string; items: Credential[]; onDone(r: Schemas["ClientCertificateRevocation"]): void }) {
  const [credentialId, setCredentialId] = useState(items[0].id);
  const [serial, setSerial] = useState("");
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  const cred = items.find((c) => c.id === credentialId) ?? items[0];

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.POST("/console/users/{userId}/client-certificates/{credentialId}/revocations", {
      params: { path: { userId, credentialId: cred.id } },
      body: { serial: serial.trim() || undefined, reason: reason.trim() || undefined },
    });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      return;
    }
    setProblem(null);
    setSerial("");
    setReason("");
    onDone(data);
  }

  return (
    <div>
      <h3>Revoke a serial</h3>
      <p>A revoked certificate no longer authenticates anyone in this deployment. A revocation cannot be undone.</p>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <SelectField label="Through" value={cred.id} onChange={(e) => setCredentialId(e.target.value)} options={items.map((c) => ({ value: c.id, label: `${c.name ?? c.subject} (${c.kind === "ca" ? "CA" : "pinned"})` }))} />
        <Field
          label="Serial number"
          className="mono"
          required={cred.kind === "ca"}
          value={serial}
          onChange={(e) => setSerial(e.target.value)}
          error={problem?.fields.serial}
          hint={cred.kind === "ca" ? "Of a certificate this CA issued, in hex (01:A3:FF, 0x1a3ff and 1A3FF are the same)." : `Empty revokes the pinned certificate itself (serial ${cred.serial}).`}
        />
        <Field label="Reason" maxLength={100} value={reason} onChange={(e) => setReason(e.target.value)} error={problem?.fields.reason} hint="For people; optional." />
        <button type="submit" className="danger" disabled={busy}>
          Revoke serial
        </button>
      </form>
    </div>
  );
}
