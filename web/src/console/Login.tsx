import { useEffect, useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { api, setToken } from "../api/client";
import { show, type Shown } from "../api/problem";
import { Field } from "../ui/Field";
import { ProblemBox } from "../ui/ProblemBox";
import { Page } from "../ui/Shell";
import { consoleResumeKey, useSession } from "../session";
import { readLoginFragment } from "./sso/fragment";
import { SSOButtons } from "./sso/SSOButtons";

// ConsoleLogin logs a Local users domain user in on this deployment's host, and offers a
// login at each OIDC or SAML domain's identity provider (SSOButtons). A portal user, and a
// person back from an identity provider, arrive with a console token in the URL's fragment
// (never sent to a server), which is taken and removed from the address at once; a login the
// service refused comes back with the reason there instead, which is shown.
export function ConsoleLogin() {
  const { start } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const state = (location.state ?? {}) as { next?: string; reason?: string };
  const next = state.next && state.next.startsWith("/console/") && state.next !== "/console/login" ? state.next : "/console/certificates";
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [tested, setTested] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const got = readLoginFragment(window.location.hash);
    if (!got) return;
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    if (got.kind === "error") {
      setProblem(got.problem);
      return;
    }
    if (got.kind === "test") {
      setTested(got.text);
      return;
    }
    const token = got.token;
    setToken(token);
    void api.GET("/console/session").then(({ data, error, response }) => {
      if (!data) {
        setToken(null);
        setProblem(show(error, response));
        return;
      }
      start(token, { face: "console", deploymentId: data.deploymentId, roles: data.roles, expiresAt: got.expiresAt, name: data.name });
      // Back where an expired session left off, when the portal opened the console again.
      const resume = sessionStorage.getItem(consoleResumeKey);
      sessionStorage.removeItem(consoleResumeKey);
      navigate(resume && resume.startsWith("/console/") && resume !== "/console/login" ? resume : next, { replace: true });
    });
  }, [start, navigate, next]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.POST("/console/login", { body: { username, password } });
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    start(data.token, { face: "console", deploymentId: data.deploymentId, roles: data.roles, expiresAt: data.expiresAt, name: username });
    navigate(next);
  }

  return (
    <Page title="Log in to the console">
      {state.reason === "expired" && (
        <p role="status">
          Your session has ended. Log in again to go on where you were; if you came from the portal, open the console
          again there.
        </p>
      )}
      <p>
        Console users of the Local users domain log in here, on the deployment's own address ({window.location.host}).
        Portal users open the console from the portal; users of your organisation's identity provider use its button below.
      </p>
      {tested && (
        <div role="status" className="notice">
          <strong>Test login</strong>
          <p>{tested}</p>
        </div>
      )}
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <Field label="User name" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
        <Field label="Password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
      <SSOButtons />
    </Page>
  );
}
