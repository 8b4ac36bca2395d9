import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { api } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { ConfirmDelete } from "../../ui/ConfirmDelete";
import { CheckField, Field, SelectField, TextAreaField } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { allPages } from "../../ui/Pager";
import { can, useSession } from "../../session";
import { ClaimRules, RoleMappings } from "./Editors";
import {
  builtInRoles,
  roleOptions,
  ciPresets,
  emptyForm,
  fromDomain,
  kindLabel,
  problemOf,
  toBody,
  unplaced,
  usersText,
  type CIForm,
  type Domain,
  type DomainForm,
  type MadeKind,
  type OIDCForm,
  type Role,
  type RoleOption,
  type SAMLForm,
} from "./domainForm";
import "./domains.css";

// Editing is the editor's subject: a new domain of a kind, or a domain as read with the
// version its change is based on (If-Match).
type Editing = { form: DomainForm; id?: string; version?: number; name?: string };

// testLoginURL starts a login at the domain's identity provider in test mode (the API's route,
// on the deployment's host): the Signum Administrator sees whether the settings work without
// leaving the console.
export function testLoginURL(id: string): string {
  return `/console/domains/${encodeURIComponent(id)}/login?test=1`;
}

// Domains lists how the deployment's console users authenticate: the built-in Local users and
// Certificate users domains, and the OIDC, SAML and CI workload identity domains the Signum
// Administrator made, who alone creates, changes and deletes them (one form per kind).
export function Domains() {
  const { session } = useSession();
  const admin = can(session, "signum-administrator");
  const [domains, setDomains] = useState<Domain[] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [notice, setNotice] = useState("");
  const [editing, setEditing] = useState<Editing | null>(null);

  const load = useCallback(async () => {
    const r = await allPages((cursor) => api.GET("/console/domains", { params: { query: { limit: 100, cursor } } }));
    if ("problem" in r) {
      if (r.status === 403) setForbidden(true);
      else setProblem(r.problem);
      return;
    }
    const all = r.items;
    setProblem(null);
    // The built-in domains first, as the API lists them, then the made ones by name.
    setDomains([...all.filter((d) => d.builtIn), ...all.filter((d) => !d.builtIn).sort((a, b) => a.name.localeCompare(b.name))]);
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const done = (msg: string) => {
    setEditing(null);
    setNotice(msg);
    void load();
  };

  // edit reads the domain again so that the change is based on its current version.
  async function edit(d: Domain) {
    setNotice("");
    const { data, error, response } = await api.GET("/console/domains/{domainId}", { params: { path: { domainId: d.id } } });
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    const form = fromDomain(data);
    if (form) setEditing({ form, id: data.id, version: data.version, name: data.name });
  }

  if (forbidden) {
    return (
      <Page title="Domains">
        <Forbidden what="reading the login domains" />
      </Page>
    );
  }
  return (
    <Page title="Domains">
      <p>
        A domain is how a group of console users authenticates. Users of a domain with an alias log in as{" "}
        <span className="mono">user@alias</span>. Only the Signum Administrator creates, changes and deletes domains; a
        domain can be deleted only when it has no users.
      </p>
      <div role="status">{notice && <p className="notice">{notice}</p>}</div>
      <ProblemBox problem={problem} />
      {domains === null && !problem && <p role="status">Loading the domains…</p>}
      {domains && (
        <TableWrap label="Domains" caption="Login domains" className="domains-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Log in as</th>
              <th scope="col">Users</th>
              <th scope="col">Settings</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {domains.map((d) => (
              <DomainRow key={d.id} domain={d} admin={admin} onEdit={() => void edit(d)} onDone={done} />
            ))}
          </tbody>
        </TableWrap>
      )}
      {admin ? (
        <Editor editing={editing} onOpen={(kind) => { setNotice(""); setEditing({ form: emptyForm(kind) }); }} onCancel={() => setEditing(null)} onDone={done} />
      ) : (
        <p className="notice">Only the Signum Administrator can create, change or delete domains.</p>
      )}
    </Page>
  );
}

// Settings sums up a domain's identity provider for the list.
function Settings({ d }: { d: Domain }): ReactNode {
  switch (d.kind) {
    case "local":
      return (
        <>
          Passwords and lockout: <Link to="/console/domain">Local users domain settings</Link>
        </>
      );
    case "certificate":
      return (
        <>
          Client certificates, registered per user on the <Link to="/console/users">Users</Link> page
        </>
      );
    case "oidc":
      return (
        <>
          Issuer <span className="mono">{d.oidc?.issuer}</span>, client <span className="mono">{d.oidc?.clientId}</span>
          {d.oidc?.hasClientSecret ? " (with a secret)" : " (public client)"}
          {d.jit ? "; users made at their first login" : ""}
        </>
      );
    case "saml":
      return <>SAML metadata of the identity provider{d.jit ? "; users made at their first login" : ""}</>;
    case "ci":
      return (
        <>
          Issuer <span className="mono">{d.ci?.issuer}</span>, audience <span className="mono">{d.ci?.audience}</span>
          <ul className="rule-list">
            {(d.ci?.rules ?? []).map((r) => (
              <li key={r.name}>
                {r.name}: {Object.entries(r.claims).map(([c, p]) => `${c} = ${p}`).join(", ")} → <span className="mono">{r.user}</span>
              </li>
            ))}
          </ul>
        </>
      );
  }
}

// RegisterAt shows what to register at the identity provider: the deployment's own URLs.
function RegisterAt({ r }: { r: NonNullable<Domain["registration"]> }) {
  const rows: [string, string | undefined][] = [
    ["Redirect URL", r.redirectUrl],
    ["Entity ID (SP metadata)", r.entityId],
    ["Assertion consumer URL", r.acsUrl],
  ];
  return (
    <dl className="register-at">
      {rows
        .filter(([, v]) => v)
        .map(([k, v]) => (
          <div key={k}>
            <dt>Register at the IdP: {k}</dt>
            <dd className="mono">{v}</dd>
          </div>
        ))}
    </dl>
  );
}

function DomainRow({ domain: d, admin, onEdit, onDone }: { domain: Domain; admin: boolean; onEdit(): void; onDone(msg: string): void }) {
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  async function remove() {
    setBusy(true);
    const { error, response } = await api.DELETE("/console/domains/{domainId}", { params: { path: { domainId: d.id } } });
    setBusy(false);
    if (!response.ok) {
      setProblem(problemOf(error, response, "Someone changed this domain since the page loaded it. Reload the page and delete it again."));
      return;
    }
    onDone(`Domain “${d.name}” was deleted.`);
  }
  const people = d.kind === "oidc" || d.kind === "saml";
  return (
    <tr>
      <th scope="row">
        {d.name}
        {d.builtIn && <span className="badge">built in</span>}
      </th>
      <td>{kindLabel[d.kind]}</td>
      <td className={d.alias ? "mono login-as" : undefined}>{d.alias ? `user@${d.alias}` : "user name only"}</td>
      <td>{usersText(d)}</td>
      <td className="settings">
        <Settings d={d} />
        {d.registration && <RegisterAt r={d.registration} />}
      </td>
      <td className="domain-actions">
        <ProblemBox problem={problem} />
        <div className="row">
          {people && (
            <a href={testLoginURL(d.id)} target="_blank" rel="noopener noreferrer">
              Test login<span className="sr-only"> to {d.name} (opens a new tab)</span>
            </a>
          )}
          {admin && !d.builtIn && (
            <>
              <button type="button" className="secondary" onClick={onEdit}>
                Edit {d.name}
              </button>
              <ConfirmDelete
                what="this domain"
                name={d.name}
                buttonLabel={`Delete ${d.name}`}
                busy={busy}
                consequence={
                  <p>
                    Nobody can log in as <span className="mono">user@{d.alias}</span> any more, and the alias becomes free. The
                    service refuses while the domain has users ({d.userCount} now): delete them or move them first.
                  </p>
                }
                onConfirm={remove}
              />
            </>
          )}
          {d.builtIn && !people && <span className="hint">Always there; not deleted.</span>}
        </div>
      </td>
    </tr>
  );
}

const newKinds: { kind: MadeKind; label: string; what: string }[] = [
  { kind: "oidc", label: "New OIDC domain", what: "People log in at your OpenID Connect provider (authorization code with PKCE)." },
  { kind: "saml", label: "New SAML domain", what: "People log in at your SAML 2.0 identity provider." },
  { kind: "ci", label: "New CI domain", what: "CI jobs (GitHub Actions, GitLab CI, any OIDC-issuing runner) sign with their short-lived token, no stored secret." },
];

// Editor offers a new domain of each kind, and shows the form of the domain being made or
// changed.
function Editor({ editing, onOpen, onCancel, onDone }: { editing: Editing | null; onOpen(kind: MadeKind): void; onCancel(): void; onDone(msg: string): void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (editing) heading.current?.focus();
  }, [editing]);
  if (!editing) {
    return (
      <section aria-labelledby="new-domain">
        <h2 id="new-domain">Create a domain</h2>
        <ul className="new-kinds">
          {newKinds.map((k) => (
            <li key={k.kind}>
              <button type="button" onClick={() => onOpen(k.kind)}>
                {k.label}
              </button>{" "}
              <span className="hint">{k.what}</span>
            </li>
          ))}
        </ul>
      </section>
    );
  }
  const title = editing.id ? `Edit ${editing.name}` : newKinds.find((k) => k.kind === editing.form.kind)!.label;
  return (
    <section aria-labelledby="domain-editor" className="domain-editor">
      <h2 id="domain-editor" ref={heading} tabIndex={-1}>
        {title}
      </h2>
      <DomainEditor key={editing.id ?? editing.form.kind} editing={editing} onCancel={onCancel} onDone={onDone} />
    </section>
  );
}

// useRoles loads the roles a domain may give; without them (a refusal, the service away) the
// built-in ones are offered, and the API judges the choice anyway.
function useRoles(): RoleOption[] {
  const [roles, setRoles] = useState<RoleOption[]>(builtInRoles);
  useEffect(() => {
    let live = true;
    void (async () => {
      const all: Role[] = [];
      let cursor: string | undefined;
      do {
        const { data } = await api.GET("/console/roles", { params: { query: { limit: 100, cursor } } });
        if (!data) return;
        all.push(...data.items);
        cursor = data.next ?? undefined;
      } while (cursor);
      if (live) setRoles(roleOptions(all));
    })();
    return () => {
      live = false;
    };
  }, []);
  return roles;
}

function DomainEditor({ editing, onCancel, onDone }: { editing: Editing; onCancel(): void; onDone(msg: string): void }) {
  const roles = useRoles();
  const [form, setForm] = useState<DomainForm>(editing.form);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  const update = (patch: Partial<DomainForm>) => setForm((f) => ({ ...f, ...patch }) as DomainForm);
  const fields = problem?.fields ?? {};

  async function submit(e: FormEvent) {
    e.preventDefault();
    const { body, fields: checked } = toBody(form);
    if (!body) {
      setProblem({ title: "Check the fields marked below", fields: checked });
      return;
    }
    setBusy(true);
    const { data, error, response } = editing.id
      ? await api.PATCH("/console/domains/{domainId}", { params: { path: { domainId: editing.id }, header: { "If-Match": `"${editing.version}"` } }, body })
      : await api.POST("/console/domains", { body });
    setBusy(false);
    if (!data) {
      setProblem(problemOf(error, response));
      return;
    }
    onDone(editing.id ? `Domain “${data.name}” was saved.` : `Domain “${data.name}” was created: its users log in as user@${data.alias}.`);
  }

  const leftover = unplaced(form, fields);
  return (
    <form onSubmit={submit} className="form domain-form" noValidate>
      {fields.kind && <div className="field-error">{fields.kind}</div>}
      <CommonFields form={form} update={update} fields={fields} />
      {form.kind === "oidc" && <OIDCFields form={form} update={update} fields={fields} editing={!!editing.id} />}
      {form.kind === "saml" && <SAMLFields form={form} update={update} fields={fields} />}
      {form.kind === "ci" && <CIFields form={form} update={update} fields={fields} />}
      {(form.kind === "oidc" || form.kind === "saml") && <PeopleFields form={form} update={update} fields={fields} roles={roles} />}
      <ProblemBox problem={problem} />
      {leftover.length > 0 && (
        <ul className="field-error" aria-label="Other problems">
          {leftover.map(([name, reason]) => (
            <li key={name}>
              <span className="mono">{name}</span>: {reason}
            </li>
          ))}
        </ul>
      )}
      <div className="row">
        <button type="submit" disabled={busy}>
          {editing.id ? "Save domain" : "Create domain"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

interface Part<F extends DomainForm> {
  form: F;
  update(patch: Partial<F>): void;
  fields: Record<string, string>;
}

function CommonFields({ form, update, fields }: Part<DomainForm>) {
  const alias = form.alias.trim().toLowerCase();
  return (
    <>
      <Field label="Name" required maxLength={64} value={form.name} onChange={(e) => update({ name: e.target.value })} error={fields.name} />
      <Field
        label="Alias"
        required
        maxLength={32}
        autoComplete="off"
        spellCheck={false}
        value={form.alias}
        onChange={(e) => update({ alias: e.target.value })}
        error={fields.alias}
        hint={
          <>
            Users log in as <span className="mono">user@{alias || "alias"}</span>: 1 to 32 lower-case letters, digits or
            “-”, not starting or ending with “-”.
          </>
        }
      />
      <Field label="User limit" inputMode="numeric" value={form.userLimit} onChange={(e) => update({ userLimit: e.target.value })} error={fields.userLimit} hint="The most users the domain may hold; empty for no limit." />
      <Field
        label="Agent concurrency"
        inputMode="numeric"
        value={form.agentConcurrency}
        onChange={(e) => update({ agentConcurrency: e.target.value })}
        error={fields.agentConcurrency}
        hint="The most signing requests one user of the domain may have in flight at once; empty for no limit."
      />
    </>
  );
}

function OIDCFields({ form, update, fields, editing }: Part<OIDCForm> & { editing: boolean }) {
  return (
    <fieldset>
      <legend>OpenID Connect provider</legend>
      {fields.oidc && <div className="field-error">{fields.oidc}</div>}
      <Field label="Issuer" type="url" required spellCheck={false} value={form.issuer} onChange={(e) => update({ issuer: e.target.value })} error={fields["oidc.issuer"]} hint="The provider's issuer URL; its discovery document is read from it (https)." />
      <Field label="Client id" required spellCheck={false} autoComplete="off" value={form.clientId} onChange={(e) => update({ clientId: e.target.value })} error={fields["oidc.clientId"]} />
      <Field
        label="Client secret"
        type="password"
        autoComplete="new-password"
        value={form.clientSecret}
        onChange={(e) => update({ clientSecret: e.target.value })}
        error={fields["oidc.clientSecret"]}
        hint={
          editing
            ? form.hasClientSecret
              ? "A secret is stored (never shown): leave empty to keep it, or type a new one."
              : "No secret is stored (a public client): leave empty to keep it so, or type one."
            : "For a confidential client; leave empty for a public client (PKCE only). Stored sealed, never shown again."
        }
      />
      <Field label="Scopes" spellCheck={false} value={form.scopes} onChange={(e) => update({ scopes: e.target.value })} error={fields["oidc.scopes"]} hint="Separated by spaces; empty for openid profile email." />
      <Field label="User name claim" spellCheck={false} value={form.usernameClaim} onChange={(e) => update({ usernameClaim: e.target.value })} error={fields["oidc.usernameClaim"]} hint="Empty for preferred_username." />
      <Field label="E-mail claim" spellCheck={false} value={form.emailClaim} onChange={(e) => update({ emailClaim: e.target.value })} error={fields["oidc.emailClaim"]} hint="Empty for email." />
      <Field label="Groups claim" spellCheck={false} value={form.groupsClaim} onChange={(e) => update({ groupsClaim: e.target.value })} error={fields["oidc.groupsClaim"]} hint="The claim listing the person's IdP groups; empty for groups." />
    </fieldset>
  );
}

function SAMLFields({ form, update, fields }: Part<SAMLForm>) {
  const [read, setRead] = useState("");
  async function readFile(file: File | undefined) {
    if (!file) return;
    const text = await file.text();
    update({ idpMetadataXml: text });
    setRead(`Read ${file.name} (${text.length} characters) into the metadata above.`);
  }
  return (
    <fieldset>
      <legend>SAML 2.0 identity provider</legend>
      {fields.saml && <div className="field-error">{fields.saml}</div>}
      <TextAreaField
        label="IdP metadata XML"
        required
        spellCheck={false}
        rows={8}
        value={form.idpMetadataXml}
        onChange={(e) => update({ idpMetadataXml: e.target.value })}
        error={fields["saml.idpMetadataXml"]}
        hint="Paste the identity provider's metadata (an EntityDescriptor with an IDPSSODescriptor), or read it from a file below."
      />
      <Field label="Or read the metadata from a file" type="file" accept=".xml,application/xml,text/xml,application/samlmetadata+xml" onChange={(e) => void readFile(e.target.files?.[0])} />
      <div role="status" className="hint">
        {read}
      </div>
      <Field label="User name attribute" spellCheck={false} value={form.usernameAttribute} onChange={(e) => update({ usernameAttribute: e.target.value })} error={fields["saml.usernameAttribute"]} hint="Empty for the assertion's NameID." />
      <Field label="E-mail attribute" spellCheck={false} value={form.emailAttribute} onChange={(e) => update({ emailAttribute: e.target.value })} error={fields["saml.emailAttribute"]} hint="Empty for email." />
      <Field label="Display name attribute" spellCheck={false} value={form.nameAttribute} onChange={(e) => update({ nameAttribute: e.target.value })} error={fields["saml.nameAttribute"]} hint="Empty for displayName." />
      <Field label="Groups attribute" spellCheck={false} value={form.groupsAttribute} onChange={(e) => update({ groupsAttribute: e.target.value })} error={fields["saml.groupsAttribute"]} hint="The attribute listing the person's IdP groups; empty for groups." />
    </fieldset>
  );
}

function PeopleFields({ form, update, fields, roles }: Part<OIDCForm | SAMLForm> & { roles: RoleOption[] }) {
  const known = form.defaultRole === "" || roles.some((r) => r.value === form.defaultRole);
  return (
    <fieldset>
      <legend>Users and roles</legend>
      <CheckField
        label="Create users at their first login (just-in-time provisioning)"
        checked={form.jit}
        onChange={(v) => update({ jit: v })}
        hint="Otherwise only people who already are users of this domain may log in."
      />
      {fields.jit && <div className="field-error">{fields.jit}</div>}
      <SelectField label="Default role" value={form.defaultRole} onChange={(e) => update({ defaultRole: e.target.value })} error={fields.defaultRole} hint="The role of people whose IdP groups map to no role below.">
        <option value="">None: refuse them</option>
        {!known && <option value={form.defaultRole}>{form.defaultRole}</option>}
        {roles.map((r) => (
          <option key={r.value} value={r.value}>
            {r.label}
          </option>
        ))}
      </SelectField>
      <RoleMappings mappings={form.mappings} onChange={(m) => update({ mappings: m })} fields={fields} roles={roles} />
    </fieldset>
  );
}

function CIFields({ form, update, fields }: Part<CIForm>) {
  return (
    <fieldset>
      <legend>CI workload identity</legend>
      {fields.ci && <div className="field-error">{fields.ci}</div>}
      <Field
        label="Issuer"
        type="url"
        required
        spellCheck={false}
        value={form.issuer}
        onChange={(e) => update({ issuer: e.target.value })}
        error={fields["ci.issuer"]}
        hint="Exactly as in the jobs' tokens (their iss claim)."
      />
      <div className="row presets">
        {ciPresets.map((p) => (
          <button key={p.issuer} type="button" className="secondary" onClick={() => update({ issuer: p.issuer })}>
            Use {p.label}’s issuer
          </button>
        ))}
      </div>
      <Field
        label="Audience"
        required
        spellCheck={false}
        value={form.audience}
        onChange={(e) => update({ audience: e.target.value })}
        error={fields["ci.audience"]}
        hint="What the jobs request their token for: core.getIDToken(audience) on GitHub, id_tokens: aud on GitLab."
      />
      <ClaimRules rules={form.rules} onChange={(rules) => update({ rules })} fields={fields} />
    </fieldset>
  );
}
