import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { TextAreaField } from "../../ui/Field";
import { ProblemBox } from "../../ui/ProblemBox";
import { Forbidden, Page } from "../../ui/Shell";
import { may, useSession } from "../../session";
import { when } from "../certificates/common";

type Settings = Schemas["Timestamping"];

// urlsOf turns the text area's lines into the authorities' URLs (blank lines dropped).
export function urlsOf(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

// Timestamping shows the deployment's RFC 3161 time-stamping authorities, which the signer
// asks for the tokens of policies that require timestamps. Those who manage the settings
// change them; a change made meanwhile by someone else is 412.
export function Timestamping() {
  const { session } = useSession();
  const mayChange = may(session, "settings", "manage");
  const [current, setCurrent] = useState<Settings | null>(null);
  const [urls, setUrls] = useState("");
  const [caPem, setCaPem] = useState("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/console/timestamping");
    if (!data) {
      if (response?.status === 403) setForbidden(true);
      else setProblem(show(error, response));
      return;
    }
    setCurrent(data);
    setUrls(data.urls.join("\n"));
    setCaPem(data.caPem);
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  if (forbidden) {
    return (
      <Page title="Timestamping">
        <Forbidden what="reading the time-stamping authorities" />
      </Page>
    );
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!current) return;
    setBusy(true);
    setMessage("");
    const { data, error, response } = await api.PUT("/console/timestamping", { body: { urls: urlsOf(urls), caPem, version: current.version } });
    setBusy(false);
    if (!data) {
      const shown = show(error, response);
      if (shown.status === 412) shown.detail = "Someone changed the authorities while you were saving. Reload them, then make your change again.";
      setProblem(shown);
      return;
    }
    setProblem(null);
    setCurrent(data);
    setUrls(data.urls.join("\n"));
    setCaPem(data.caPem);
    setMessage("The time-stamping authorities were saved.");
  }

  // A field error names urls[i]: it is shown on the one text area.
  const urlError = problem && Object.entries(problem.fields).find(([k]) => k === "urls" || k.startsWith("urls["));
  return (
    <Page title="Timestamping">
      <p>
        The RFC 3161 time-stamping authorities the service asks for a token over each signature of a policy that requires a timestamp. They are tried in order; a signature whose token cannot be had is
        not returned, and its signing event says why.
      </p>
      <ProblemBox problem={problem} />
      {problem?.status === 412 && (
        <button type="button" className="secondary" onClick={() => void load().then(() => setProblem(null))}>
          Reload the authorities
        </button>
      )}
      <div role="status">{message}</div>
      {!current && !problem && <p role="status">Loading…</p>}
      {current && (
        <>
          <h2>Current authorities</h2>
          <dl className="facts">
            <dt>Authorities</dt>
            <dd>{current.urls.length === 0 ? "None: a policy that requires a timestamp signs nothing" : current.urls.join(", ")}</dd>
            <dt>Trust roots</dt>
            <dd>{current.caPem ? "Their own (PEM below)" : "The system's"}</dd>
            <dt>Version</dt>
            <dd>
              {current.version}
              {current.updatedAt && `, changed ${when(current.updatedAt)} by ${current.updatedBy ?? "?"}`}
            </dd>
          </dl>
          {!mayChange && <p className="notice">Only those who manage the deployment's settings can change the authorities.</p>}
        </>
      )}
      {mayChange && current && (
        <>
          <h2>Change the authorities</h2>
          <form onSubmit={submit} className="form">
            <TextAreaField
              label="Authorities (one URL a line)"
              rows={4}
              value={urls}
              error={urlError ? urlError[1] : undefined}
              hint="At most 4, http or https, e.g. http://timestamp.digicert.com."
              onChange={(e) => setUrls(e.target.value)}
            />
            <TextAreaField
              label="Trust roots (PEM, optional)"
              rows={6}
              value={caPem}
              error={problem?.fields["caPem"]}
              hint="The certificates a token's signer must chain to. Empty: the system's trust roots."
              onChange={(e) => setCaPem(e.target.value)}
            />
            <div>
              <button type="submit" disabled={busy}>
                Save the authorities
              </button>
            </div>
          </form>
        </>
      )}
    </Page>
  );
}
