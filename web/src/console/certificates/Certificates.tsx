import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { Field, SelectField, TextAreaField } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { TableWrap } from "../../ui/TableWrap";
import { Pager, useCursorList } from "../../ui/Pager";
import { may, useSession } from "../../session";
import { day, explain, when } from "./common";
import { splitList } from "./pem";
import { GroupPicker, groupNames, useGroups } from "../groups/GroupPicker";
import { groupErrors } from "./groupErrors";
import "./certificates.css";

type Certificate = Schemas["Certificate"];
type Algorithm = Schemas["KeyAlgorithm"];
type Backend = Schemas["KeyBackend"];

export const algorithms: { value: Algorithm; label: string }[] = [
  { value: "RSA_2048", label: "RSA 2048" },
  { value: "RSA_3072", label: "RSA 3072" },
  { value: "RSA_4096", label: "RSA 4096" },
  { value: "EC_P256", label: "ECDSA P-256" },
  { value: "EC_P384", label: "ECDSA P-384" },
];

export function algorithmLabel(a: string) {
  return algorithms.find((x) => x.value === a)?.label ?? a;
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${status}`}>{status}</span>;
}

export function subjectText(s: Schemas["CertificateSubject"]) {
  return [s.commonName && `CN=${s.commonName}`, s.organizationalUnit && `OU=${s.organizationalUnit}`, s.organization && `O=${s.organization}`, s.locality && `L=${s.locality}`, s.province && `ST=${s.province}`, s.country && `C=${s.country}`]
    .filter(Boolean)
    .join(", ");
}

// Certificates lists the deployment's code-signing certificates, a page at a time, and lets a
// console admin create one: a new key in KMS or the HSM and its CSR.
export function Certificates() {
  const { session } = useSession();
  const admin = may(session, "certificates", "manage");
  const { groups } = useGroups();
  const { pages, list, problem, loading } = useCursorList((cursor) => api.GET("/console/certificates", { params: { query: { limit: 25, cursor } } }));

  return (
    <Page title="Certificates">
      <p>
        Code-signing certificates of this deployment. Their keys are generated in, and never leave, AWS KMS or the
        CloudHSM. A new certificate is pending until the chain your CA issues from its CSR is imported.
      </p>
      {problem?.status === 403 ? <Forbidden what="reading the certificates" /> : <ProblemBox problem={problem} />}
      {loading && <p role="status">Loading certificates…</p>}
      {list && (
        <>
          <TableWrap label="Certificates" caption={`Certificates, page ${pages.index + 1}`}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Subject</th>
                <th scope="col">Status</th>
                <th scope="col">Key</th>
                <th scope="col">Expires</th>
                <th scope="col">Signatures</th>
                <th scope="col">Groups</th>
                <th scope="col">Owner</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((c: Certificate) => (
                <tr key={c.id}>
                  <th scope="row">
                    <Link to={`/console/certificates/${c.id}`}>{c.name}</Link>
                  </th>
                  <td>{subjectText(c.subject)}</td>
                  <td>
                    <StatusBadge status={c.status} />
                    {c.renewal && c.status !== "deleted" && <div className="subtle">renewal pending</div>}
                  </td>
                  <td>
                    {algorithmLabel(c.algorithm)}
                    <div className="subtle">{c.backend === "awskms" ? "AWS KMS" : "CloudHSM"}</div>
                  </td>
                  <td>{day(c.notAfter)}</td>
                  <td>
                    {c.usageCount}
                    {c.lastUsedAt && <div className="subtle">last {when(c.lastUsedAt)}</div>}
                  </td>
                  <td>{groupNames(c.groups, groups)}</td>
                  <td className="mono">{c.owner || "—"}</td>
                </tr>
              ))}
              {list.items.length === 0 && (
                <tr>
                  <td colSpan={8}>No certificates yet.</td>
                </tr>
              )}
            </tbody>
          </TableWrap>
          <Pager pages={pages} next={list.next} label="Pages of certificates" numbered />
        </>
      )}
      {admin ? <CreateCertificate /> : <p className="notice">Only a console admin can create certificates.</p>}
    </Page>
  );
}

function CreateCertificate() {
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [backend, setBackend] = useState<Backend>("awskms");
  const [algorithm, setAlgorithm] = useState<Algorithm>("EC_P256");
  const [commonName, setCommonName] = useState("");
  const [organization, setOrganization] = useState("");
  const [organizationalUnit, setOrganizationalUnit] = useState("");
  const [country, setCountry] = useState("");
  const [province, setProvince] = useState("");
  const [locality, setLocality] = useState("");
  const [sans, setSans] = useState("");
  const { groups: all } = useGroups();
  const [groups, setGroups] = useState<string[]>([]);
  const [owner, setOwner] = useState("");
  const [users, setUsers] = useState<Schemas["ConsoleUser"][]>([]);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    // With one group there is nothing to choose: it is picked for the user.
    if (all?.length === 1) setGroups([all[0].id]);
  }, [all]);

  useEffect(() => {
    // The owner is picked among the console users; a portal user's id can be typed.
    void api.GET("/console/users", { params: { query: { limit: 100 } } }).then(({ data }) => data && setUsers(data.items));
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const opt = (v: string) => (v.trim() ? v.trim() : undefined);
    const { data, error, response } = await api.POST("/console/certificates", {
      body: {
        name: opt(name),
        backend,
        algorithm,
        subject: {
          commonName: commonName.trim(),
          organization: opt(organization),
          organizationalUnit: opt(organizationalUnit),
          country: opt(country),
          province: opt(province),
          locality: opt(locality),
        },
        // Empty lists are left out: the local service answers 500 on reading a certificate
        // created with "sans": [] (reported to the lead).
        sans: splitList(sans).length ? splitList(sans) : undefined,
        groups,
        owner: opt(owner),
      },
    });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      return;
    }
    navigate(`/console/certificates/${data.id}`, { state: { created: true } });
  }

  const f = problem?.fields ?? {};
  const sanErrors = Object.entries(f)
    .filter(([k]) => k === "sans" || k.startsWith("sans["))
    .map(([k, v]) => {
      const i = /^sans\[(\d+)\]$/.exec(k);
      return i ? `${splitList(sans)[Number(i[1])] ?? k}: ${v}` : v;
    })
    .join("; ");

  return (
    <section className="section" aria-labelledby="create-cert">
      <h2 id="create-cert">Create a certificate</h2>
      <p>This makes a new key and a certificate signing request (CSR) for the subject below. Nothing signs with it until its chain is imported.</p>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <Field label="Name" value={name} onChange={(e) => setName(e.target.value)} error={f.name} hint="For people; the common name when left empty." />
        <SelectField
          label="Key backend"
          value={backend}
          onChange={(e) => setBackend(e.target.value as Backend)}
          error={f.backend}
          options={[
            { value: "awskms", label: "AWS KMS" },
            { value: "pkcs11", label: "CloudHSM (where the deployment has one)" },
          ]}
        />
        <SelectField label="Key type" value={algorithm} onChange={(e) => setAlgorithm(e.target.value as Algorithm)} error={f.algorithm} options={algorithms} />
        <fieldset className="form">
          <legend>Subject</legend>
          <Field label="Common name (CN)" required maxLength={64} value={commonName} onChange={(e) => setCommonName(e.target.value)} error={f["subject.commonName"]} />
          <Field label="Organization (O)" maxLength={64} value={organization} onChange={(e) => setOrganization(e.target.value)} error={f["subject.organization"]} />
          <Field label="Organizational unit (OU)" maxLength={64} value={organizationalUnit} onChange={(e) => setOrganizationalUnit(e.target.value)} error={f["subject.organizationalUnit"]} />
          <Field label="Country (C)" maxLength={2} value={country} onChange={(e) => setCountry(e.target.value.toUpperCase())} error={f["subject.country"]} hint="Two letters, such as US." />
          <Field label="State or province (ST)" maxLength={128} value={province} onChange={(e) => setProvince(e.target.value)} error={f["subject.province"]} />
          <Field label="Locality (L)" maxLength={128} value={locality} onChange={(e) => setLocality(e.target.value)} error={f["subject.locality"]} />
        </fieldset>
        <TextAreaField label="Subject alternative names" rows={2} value={sans} onChange={(e) => setSans(e.target.value)} error={sanErrors || undefined} hint="DNS names or e-mail addresses, separated by commas or lines; at most 20." />
        <GroupPicker legend="Groups" groups={all} selected={groups} onChange={setGroups} error={groupErrors(problem, groups, all)} hint="At least one: the groups decide which roles see it and which policies may name it." />
        <Field
          label="Owner"
          list="owner-choices"
          value={owner}
          onChange={(e) => setOwner(e.target.value)}
          error={f.owner}
          hint="Optional: a console user's id (cu_…) or a portal user's id (pu_…) who may sign with it."
        />
        <datalist id="owner-choices">
          {users.map((u) => (
            <option key={u.id} value={u.id}>
              {u.username}
            </option>
          ))}
        </datalist>
        <button type="submit" disabled={busy}>
          {busy ? "Creating the key…" : "Create certificate"}
        </button>
      </form>
    </section>
  );
}
