import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from "react";
import { useParams } from "react-router-dom";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { Field } from "../ui/Field";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { can, useSession } from "../session";
import { checkAllowlist, type AllowlistCheck } from "./allowlist";
import "./portal.css";

type Deployment = Schemas["Deployment"];
type Patch = Schemas["DeploymentPatch"];

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

// DeploymentSettings lets a portal Admin change the deployment's name, domain name and IP
// allowlist; other roles read them. A change is sent with the ETag it was based on, so that
// nobody's change made since is overwritten.
export function DeploymentSettings() {
  const { id = "" } = useParams();
  const { session } = useSession();
  const admin = can(session, "Admin");
  const allowId = useId();
  const allowRef = useRef<HTMLTextAreaElement>(null);
  const [deployment, setDeployment] = useState<Deployment | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [domainName, setDomainName] = useState("");
  const [allowText, setAllowText] = useState("");
  const [check, setCheck] = useState<AllowlistCheck | null>(null);
  const [loadProblem, setLoadProblem] = useState<Shown | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [saved, setSaved] = useState("");
  const [busy, setBusy] = useState(false);

  const fill = useCallback((d: Deployment, tag: string | null) => {
    setDeployment(d);
    setEtag(tag);
    setName(d.name);
    setDomainName(d.domainName ?? "");
    setAllowText(d.ipAllowlist.join("\n"));
    setCheck(null);
  }, []);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/portal/deployments/{id}", { params: { path: { id } } });
    if (!data) {
      setLoadProblem(show(error, response));
      return;
    }
    setLoadProblem(null);
    fill(data, response.headers.get("ETag"));
  }, [id, fill]);

  useEffect(() => {
    void load();
  }, [load]);

  async function reload() {
    setProblem(null);
    setSaved("");
    await load();
    setSaved("Reloaded: the form shows the settings as they are now. Make your change again and save.");
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!deployment) return;
    setSaved("");
    setProblem(null);
    const c = checkAllowlist(allowText);
    setCheck(c);
    if (c.errors.length > 0 || c.tooMany) {
      allowRef.current?.focus();
      return;
    }
    const patch: Patch = {};
    if (name.trim() !== deployment.name) patch.name = name;
    if (domainName.trim() !== (deployment.domainName ?? "")) patch.domainName = domainName.trim();
    if (!sameList(c.canonical, deployment.ipAllowlist)) patch.ipAllowlist = c.entries;
    if (Object.keys(patch).length === 0) {
      setSaved("Nothing to save: the settings are as you see them.");
      return;
    }
    setBusy(true);
    const { data, error, response } = await api.PATCH("/portal/deployments/{id}", {
      params: { path: { id }, header: etag ? { "If-Match": etag } : {} },
      body: patch,
    });
    setBusy(false);
    if (!data) {
      const p = show(error, response);
      if (response.status === 412) {
        p.title = "Someone changed these settings since you loaded them";
        p.detail = "Your change was not saved. Reload to see the settings as they are now, then make your change again.";
      } else if (response.status === 409) {
        p.detail = (p.detail ? p.detail + " " : "") + "The domain name is probably taken by another deployment: choose another one.";
      }
      setProblem(p);
      return;
    }
    fill(data, response.headers.get("ETag"));
    setSaved("Saved. " + (patch.ipAllowlist ? "The allowlist applies to console and signer requests from now on." : ""));
  }

  if (loadProblem?.status === 403) {
    return (
      <Page title="Settings">
        <Forbidden what="reading this deployment" />
      </Page>
    );
  }
  if (!deployment) {
    return <Page title="Settings">{loadProblem ? <ProblemBox problem={loadProblem} /> : <p role="status">Loading the settings…</p>}</Page>;
  }

  const lineErrors = check?.errors ?? [];
  const allowError = problem?.fields.ipAllowlist;
  const allowInvalid = lineErrors.length > 0 || !!check?.tooMany || !!allowError;
  const described = [`${allowId}-hint`, allowInvalid ? `${allowId}-errors` : ""].filter(Boolean).join(" ");

  return (
    <Page title="Settings">
      {!admin && (
        <p className="notice">Only a portal Admin can change these settings. You can read them here.</p>
      )}
      <form onSubmit={submit} className="form" noValidate>
        <ProblemBox problem={problem} />
        {problem?.status === 412 && (
          <div>
            <button type="button" className="secondary" onClick={reload}>
              Reload the settings
            </button>
          </div>
        )}
        <fieldset className="plain" disabled={!admin || busy}>
          <legend className="sr-only">Deployment settings</legend>
          <Field label="Name" required value={name} onChange={(e) => setName(e.target.value)} error={problem?.fields.name} maxLength={100} />
          <Field
            label="Domain name"
            value={domainName}
            onChange={(e) => setDomainName(e.target.value)}
            error={problem?.fields.domainName}
            autoComplete="off"
            spellCheck={false}
            hint={
              <>
                The host name the console and the signer answer on, like <code>acme.sign.example.com</code>. Leave it
                empty to remove it: the console can then not be reached.
              </>
            }
          />
          <div className="field">
            <label htmlFor={allowId}>IP allowlist</label>
            <textarea
              id={allowId}
              ref={allowRef}
              value={allowText}
              onChange={(e) => {
                setAllowText(e.target.value);
                if (check) setCheck(checkAllowlist(e.target.value));
              }}
              aria-invalid={allowInvalid ? true : undefined}
              aria-describedby={described}
              spellCheck={false}
              autoComplete="off"
              rows={6}
            />
            <div id={`${allowId}-hint`} className="hint">
              One IPv4 or IPv6 address or CIDR a line, like <code>203.0.113.0/24</code> or <code>2001:db8::/32</code>; at
              most 200. Console and signer requests, logins included, are then accepted only from these networks; empty
              admits every address. Keep the address you work from on it, or you lock yourself out of the console.
            </div>
            {allowInvalid && (
              <div id={`${allowId}-errors`} className="field-error" role="alert">
                {check?.tooMany && <p>{check.tooMany}</p>}
                {lineErrors.length > 0 && (
                  <ul className="line-problems" aria-label="Lines to correct">
                    {lineErrors.map((l) => (
                      <li key={l.line}>
                        Line {l.line} (<code>{l.text}</code>): {l.reason}.
                      </li>
                    ))}
                  </ul>
                )}
                {allowError && <p>{allowError}</p>}
              </div>
            )}
            {check && check.notes.length > 0 && !allowInvalid && (
              <ul className="hint line-problems" aria-label="How the list will be stored">
                {check.notes.map((l) => (
                  <li key={l.line}>
                    Line {l.line} (<code>{l.text}</code>): {l.reason}.
                  </li>
                ))}
              </ul>
            )}
          </div>
          {admin && (
            <div className="row">
              <button type="submit" disabled={busy}>
                {busy ? "Saving…" : "Save settings"}
              </button>
            </div>
          )}
        </fieldset>
        <p role="status">{saved}</p>
      </form>
    </Page>
  );
}
