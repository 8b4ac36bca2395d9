import { useState, type FormEvent } from "react";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { Field } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";

// DryRun asks POST /console/policies/evaluate whether a signing request would be allowed and
// by which policy, as the signer would decide it now (or at a chosen instant), without signing.
export function DryRun({ names }: { names: Record<string, string> }) {
  const [userId, setUserId] = useState("");
  const [certificateId, setCertificateId] = useState("");
  const [processName, setProcessName] = useState("");
  const [commandLine, setCommandLine] = useState("");
  const [at, setAt] = useState("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [result, setResult] = useState<Schemas["EvaluateResponse"] | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setResult(null);
    const body: Schemas["EvaluateRequest"] = { userId: userId.trim(), certificateId: certificateId.trim() };
    if (processName !== "") body.process = processName;
    if (commandLine !== "") body.commandLine = commandLine;
    if (at.trim() !== "") body.at = at.trim();
    const { data, error, response } = await api.POST("/console/policies/evaluate", { body });
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    setProblem(null);
    setResult(data);
  }

  return (
    <section aria-labelledby="dry-run-title" className="dry-run">
      <h2 id="dry-run-title">Dry run: would this request be allowed?</h2>
      <p className="hint">Decides a signing request against the policies as they are stored now, without signing and without writing anything.</p>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <Field label="User id" required placeholder="cu_… or pu_…" value={userId} error={problem?.fields.userId} onChange={(e) => setUserId(e.target.value)} />
        <Field label="Certificate id" required placeholder="crt_…" value={certificateId} error={problem?.fields.certificateId} onChange={(e) => setCertificateId(e.target.value)} />
        <Field label="Process" placeholder="signtool.exe" value={processName} error={problem?.fields.process} hint="As the signing agent reports it; empty: none reported." onChange={(e) => setProcessName(e.target.value)} />
        <Field label="Command line" value={commandLine} error={problem?.fields.commandLine} onChange={(e) => setCommandLine(e.target.value)} />
        <Field label="At" placeholder="2026-04-02T09:30:00Z" value={at} error={problem?.fields.at} hint="Optional instant, RFC 3339 with a zone; empty: now." onChange={(e) => setAt(e.target.value)} />
        <div>
          <button type="submit" disabled={busy}>
            Evaluate the request
          </button>
        </div>
      </form>
      <div role="status" aria-live="polite">
        {result && (
          <div className={result.allowed ? "decision allowed" : "decision denied"}>
            <p>
              <strong>{result.allowed ? "Allowed" : "Denied"}</strong>
              {result.policyId ? (
                <>
                  {" "}
                  by policy <a href={`#policy-${result.policyId}`}>{names[result.policyId] ? `“${names[result.policyId]}”` : result.policyId}</a> (
                  <span className="mono">{result.policyId}</span>)
                </>
              ) : result.owner ? (
                " because the user owns the certificate and holds the signer role; no policy matched"
              ) : (
                "; no policy decided"
              )}
            </p>
            <p>{result.reason}</p>
            {result.approvalsRequired ? <p>Held until {result.approvalsRequired === 1 ? "an approver approves" : `${result.approvalsRequired} approvers approve`} it.</p> : null}
            {result.timestampRequired ? <p>Each signature carries a time-stamping authority&apos;s token, or is withheld.</p> : null}
          </div>
        )}
      </div>
    </section>
  );
}
