import { useCallback, useEffect, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { ConfirmDelete } from "../../ui/ConfirmDelete";
import { download } from "../../ui/download";
import { Field, SelectField } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { may, useSession } from "../../session";
import { PemInput, explain, when } from "./common";
import { algorithmLabel, algorithms, StatusBadge, subjectText } from "./Certificates";
import { pemBlocks } from "./pem";
import { GroupPicker, groupNames, useGroups, type Group } from "../groups/GroupPicker";
import { groupErrors } from "./groupErrors";
import "./certificates.css";

type Certificate = Schemas["Certificate"];

// CertificateDetail shows one certificate and, for a console admin, what can be done with it:
// its CSR to download, the issued chain to import, renewal, enabling and disabling, its name,
// owner and groups, and deletion.
export function CertificateDetail() {
  const { certId = "" } = useParams();
  const { session } = useSession();
  const admin = may(session, "certificates", "manage");
  const location = useLocation();
  const [cert, setCert] = useState<Certificate | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const { groups } = useGroups();
  const [notice, setNotice] = useState<string>((location.state as { created?: boolean } | null)?.created ? "Certificate created: download its CSR and have your CA issue the certificate." : "");

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/console/certificates/{certId}", { params: { path: { certId } } });
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setCert(data);
  }, [certId]);

  useEffect(() => {
    void load();
  }, [load]);

  // changed takes the certificate an action answered with and says what happened.
  function changed(c: Certificate, what: string) {
    setCert(c);
    setNotice(what);
  }

  if (!cert) {
    return (
      <Page title="Certificate">
        {problem?.status === 403 ? <Forbidden what="reading certificates" /> : <ProblemBox problem={problem} />}
        {!problem && <p role="status">Loading…</p>}
        <p>
          <Link to="/console/certificates">All certificates</Link>
        </p>
      </Page>
    );
  }

  const csr = cert.renewal?.csrPem ?? cert.csrPem;
  const deleted = cert.status === "deleted";
  return (
    <Page title={cert.name}>
      <p>
        <Link to="/console/certificates">All certificates</Link>
      </p>
      <div role="status">{notice && <p className="notice">{notice}</p>}</div>
      <ProblemBox problem={problem} />
      <Facts cert={cert} groups={groups} />

      {csr && (
        <section className="section" aria-labelledby="csr">
          <h2 id="csr">{cert.renewal ? "Renewal CSR" : "Certificate signing request"}</h2>
          <p>
            {cert.renewal
              ? `A renewal is pending since ${when(cert.renewal.requestedAt)} (new key ${algorithmLabel(cert.renewal.algorithm)}). The certificate keeps signing with its current key until the chain issued from this CSR is imported.`
              : "Have your CA issue a code-signing certificate from this CSR, then import the chain below."}
          </p>
          <pre className="pem" tabIndex={0} aria-label="CSR in PEM">
            {csr}
          </pre>
          <button type="button" onClick={() => download(csr, `${cert.id}.csr.pem`, "application/pkcs10")}>
            Download CSR
          </button>
        </section>
      )}

      {admin && !deleted && (cert.status === "pending" || cert.renewal) && <ImportChain cert={cert} onDone={(c) => changed(c, cert.renewal ? "Chain imported: the certificate now signs with its new key; the old key is scheduled for deletion." : "Chain imported: the certificate is active and signs as the policies allow.")} />}

      {cert.serialNumber && <DownloadChain certId={cert.id} />}
      {cert.status === "active" && <SignWithTools cert={cert} />}

      {admin && !deleted && (
        <>
          {cert.status !== "pending" && !cert.renewal && <Renew cert={cert} onDone={(c) => changed(c, "Renewal started: download the new CSR.")} />}
          {cert.status !== "pending" && <EnableDisable cert={cert} onDone={changed} />}
          <EditCertificate cert={cert} groups={groups} onDone={(c) => changed(c, "Changes saved.")} />
          <DeleteCertificate cert={cert} onDone={(note) => { setNotice(note); void load(); }} />
        </>
      )}
      {!admin && <p className="notice">Your role can read this certificate; only a console admin can change it.</p>}
    </Page>
  );
}

function Facts({ cert, groups }: { cert: Certificate; groups: Group[] | null }) {
  return (
    <dl className="facts">
      <dt>Id</dt>
      <dd className="mono">{cert.id}</dd>
      <dt>Status</dt>
      <dd>
        <StatusBadge status={cert.status} />
      </dd>
      <dt>Subject</dt>
      <dd>{subjectText(cert.subject)}</dd>
      <dt>Alternative names</dt>
      <dd>{cert.sans.length ? cert.sans.join(", ") : "—"}</dd>
      <dt>Key</dt>
      <dd>
        {algorithmLabel(cert.algorithm)} in {cert.backend === "awskms" ? "AWS KMS" : "the CloudHSM"} <span className="mono subtle">{cert.keyUri}</span>
      </dd>
      {cert.serialNumber && (
        <>
          <dt>Serial number</dt>
          <dd className="mono">{cert.serialNumber}</dd>
          <dt>Issuer</dt>
          <dd>{cert.issuer}</dd>
          <dt>Valid</dt>
          <dd>
            {when(cert.notBefore)} to {when(cert.notAfter)}
          </dd>
          <dt>SHA-256 thumbprint</dt>
          <dd className="mono">{cert.thumbprintSha256}</dd>
        </>
      )}
      <dt>Owner</dt>
      <dd className="mono">{cert.owner || "—"}</dd>
      <dt>Groups</dt>
      <dd>{groupNames(cert.groups, groups)}</dd>
      <dt>Signatures made</dt>
      <dd>
        {cert.usageCount}
        {cert.lastUsedAt && `, last ${when(cert.lastUsedAt)}`}
      </dd>
      <dt>Created</dt>
      <dd>{when(cert.createdAt)}</dd>
      <dt>Changed</dt>
      <dd>
        {when(cert.updatedAt)} (version {cert.version})
      </dd>
    </dl>
  );
}

function ImportChain({ cert, onDone }: { cert: Certificate; onDone(c: Certificate): void }) {
  const [chain, setChain] = useState("");
  const [allow, setAllow] = useState(false);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  const blocks = pemBlocks(chain);
  const counted = Object.entries(blocks).map(([k, n]) => `${n} ${k.toLowerCase()}${n > 1 ? "s" : ""}`).join(", ");

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.PUT("/console/certificates/{certId}/chain", {
      params: { path: { certId: cert.id } },
      body: { chain, allowNonCodeSigning: allow },
    });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      return;
    }
    setProblem(null);
    setChain("");
    onDone(data);
  }

  return (
    <section className="section" aria-labelledby="import">
      <h2 id="import">Import the issued chain</h2>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <PemInput
          label="Chain (PEM)"
          value={chain}
          onChange={setChain}
          error={problem?.fields.chain}
          derLabel={undefined}
          accept=".pem,.crt,.cer,.p7b,.p7c,.txt"
          hint={
            <>
              The certificate your CA issued from the CSR and its issuers, as PEM certificates in any order, or a PKCS#7 bundle. Never a private key.
              {counted && <span> This text holds {counted}.</span>}
            </>
          }
        />
        <label className="check">
          <input type="checkbox" checked={allow} onChange={(e) => setAllow(e.target.checked)} /> Accept a certificate without the code-signing usage
        </label>
        <button type="submit" disabled={busy || !chain.trim()}>
          Import chain
        </button>
      </form>
    </section>
  );
}

function DownloadChain({ certId }: { certId: string }) {
  const [problem, setProblem] = useState<Shown | null>(null);
  async function get() {
    const { data, error, response } = await api.GET("/console/certificates/{certId}/chain", { params: { path: { certId } }, parseAs: "text" });
    if (data === undefined) {
      setProblem(show(typeof error === "string" ? safeJSON(error) : error, response));
      return;
    }
    setProblem(null);
    download(data as string, `${certId}.pem`, "application/pem-certificate-chain");
  }
  return (
    <section className="section" aria-labelledby="chain">
      <h2 id="chain">Chain</h2>
      <ProblemBox problem={problem} />
      <p>The issued certificate and its issuers, leaf first, as PEM.</p>
      <button type="button" className="secondary" onClick={get}>
        Download chain
      </button>
    </section>
  );
}

// pkcs11Object is the certificate's name as a PKCS#11 URI's object attribute (RFC 7512:
// percent-encoded).
export function pkcs11Object(name: string): string {
  return encodeURIComponent(name).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

// SignWithTools shows how build machines sign with the certificate: the signum CLI, and the
// tools people already use through signum-pkcs11.so, with this certificate's id and name.
function SignWithTools({ cert }: { cert: Certificate }) {
  const obj = pkcs11Object(cert.name);
  const quoted = `'${cert.name.replace(/'/g, "'\\''")}'`;
  const commands = [
    `# the signum CLI: Windows PE, MSI, CAB, CAT, APPX/MSIX, JAR, PowerShell, or a detached CMS`,
    `signum sign --cert ${cert.id} app.exe setup.msi app.jar`,
    ``,
    `# signum-pkcs11.so (make pkcs11), configured like signum (SIGNUM_URL, SIGNUM_P12, ...)`,
    `osslsigncode sign -pkcs11module signum-pkcs11.so -pkcs11cert 'pkcs11:object=${obj};type=cert' \\`,
    `  -key 'pkcs11:object=${obj};type=private' -certs ${cert.id}.pem -in app.exe -out app-signed.exe`,
    `openssl dgst -sha256 -engine pkcs11 -keyform engine -sign 'pkcs11:object=${obj};type=private' -out app.sig app.tar`,
    `jarsigner -keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 -providerArg pkcs11.cfg \\`,
    `  -storepass none -certchain ${cert.id}.pem app.jar ${quoted}`,
  ].join("\n");
  return (
    <section className="section" aria-labelledby="tools">
      <h2 id="tools">Sign with your tools</h2>
      <p>
        A build machine signs with this certificate over mutual TLS, as a certificate user whom a policy allows. The policies&apos; Where
        rules see the program that signs: <code>signum</code>, <code>osslsigncode</code>, <code>openssl</code>, <code>jarsigner</code>.
        The chain is the one downloaded above. The README&apos;s &ldquo;Sign with the tools you already use&rdquo; has the configuration.
      </p>
      <pre className="pem" tabIndex={0} aria-label="Signing commands">
        {commands}
      </pre>
    </section>
  );
}

function safeJSON(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function Renew({ cert, onDone }: { cert: Certificate; onDone(c: Certificate): void }) {
  const [algorithm, setAlgorithm] = useState<string>(cert.algorithm);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.POST("/console/certificates/{certId}/renew", {
      params: { path: { certId: cert.id } },
      body: { algorithm: algorithm as Schemas["KeyAlgorithm"] },
    });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      return;
    }
    setProblem(null);
    onDone(data);
  }
  return (
    <section className="section" aria-labelledby="renew">
      <h2 id="renew">Renew</h2>
      <p>Renewing makes a new key and CSR for the same subject. The current key keeps signing until the chain issued from the new CSR is imported.</p>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <SelectField label="New key type" value={algorithm} onChange={(e) => setAlgorithm(e.target.value)} error={problem?.fields.algorithm} options={algorithms} />
        <button type="submit" disabled={busy}>
          Start renewal
        </button>
      </form>
    </section>
  );
}

function EnableDisable({ cert, onDone }: { cert: Certificate; onDone(c: Certificate, what: string): void }) {
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  const enabling = cert.status === "disabled";
  async function toggle() {
    setBusy(true);
    const { data, error, response } = await api.PATCH("/console/certificates/{certId}", { params: { path: { certId: cert.id } }, body: { enabled: enabling } });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      return;
    }
    setProblem(null);
    onDone(data, enabling ? "Certificate enabled." : "Certificate disabled: it signs nothing until enabled again.");
  }
  return (
    <section className="section" aria-labelledby="enable">
      <h2 id="enable">{enabling ? "Enable" : "Disable"}</h2>
      <ProblemBox problem={problem} />
      <p>{enabling ? "Enabled, the certificate signs again as the policies allow." : "A disabled certificate never signs, whatever the policies say."}</p>
      <button type="button" className={enabling ? "" : "secondary"} disabled={busy} onClick={toggle}>
        {enabling ? "Enable certificate" : "Disable certificate"}
      </button>
    </section>
  );
}

function EditCertificate({ cert, groups: all, onDone }: { cert: Certificate; groups: Group[] | null; onDone(c: Certificate): void }) {
  const [name, setName] = useState(cert.name);
  const [owner, setOwner] = useState(cert.owner ?? "");
  const [groups, setGroups] = useState(cert.groups);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setName(cert.name);
    setOwner(cert.owner ?? "");
    setGroups(cert.groups);
  }, [cert]);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.PATCH("/console/certificates/{certId}", {
      params: { path: { certId: cert.id } },
      body: { name: name.trim(), owner: owner.trim(), groups },
    });
    setBusy(false);
    if (!data) {
      setProblem(explain(show(error, response)));
      return;
    }
    setProblem(null);
    onDone(data);
  }
  return (
    <section className="section" aria-labelledby="edit">
      <h2 id="edit">Name, owner and groups</h2>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <Field label="Name" required value={name} onChange={(e) => setName(e.target.value)} error={problem?.fields.name} />
        <Field label="Owner" value={owner} onChange={(e) => setOwner(e.target.value)} error={problem?.fields.owner} hint="A console user's id (cu_…) or a portal user's id (pu_…); empty for none." />
        <GroupPicker legend="Groups" groups={all} selected={groups} onChange={setGroups} error={groupErrors(problem, groups, all)} hint="At least one. Moving it needs room in the groups it joins." />
        <button type="submit" disabled={busy}>
          Save changes
        </button>
      </form>
    </section>
  );
}

function DeleteCertificate({ cert, onDone }: { cert: Certificate; onDone(note: string): void }) {
  const navigate = useNavigate();
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  async function del() {
    setBusy(true);
    const { error, response } = await api.DELETE("/console/certificates/{certId}", { params: { path: { certId: cert.id } } });
    setBusy(false);
    if (!response.ok) {
      setProblem(explain(show(error, response)));
      return;
    }
    onDone("Certificate deleted: its key is scheduled for deletion. The record stays for audit.");
    navigate(`/console/certificates/${cert.id}`, { replace: true, state: null });
  }
  return (
    <section className="section" aria-labelledby="delete">
      <h2 id="delete">Delete</h2>
      <ProblemBox problem={problem} />
      <p>Deleting schedules the key for deletion; the certificate never signs again. This cannot be undone here.</p>
      <ConfirmDelete
        what="certificate"
        name={cert.name}
        buttonLabel="Delete certificate…"
        busy={busy}
        onConfirm={del}
        consequence={<p>The key of “{cert.name}” is scheduled for deletion (KMS keys after 7 days, HSM keys at once) and the certificate never signs again.</p>}
      />
    </section>
  );
}
