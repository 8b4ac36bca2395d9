import { useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { api } from "../api/client";
import { show, type Shown } from "../api/problem";
import { Field } from "../ui/Field";
import { ProblemBox } from "../ui/ProblemBox";
import { Page } from "../ui/Shell";
import { useSession } from "../session";

export function PortalLogin() {
  const { start } = useSession();
  const navigate = useNavigate();
  const state = (useLocation().state ?? {}) as { next?: string; reason?: string; registered?: string };
  const [email, setEmail] = useState(state.registered ?? "");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.POST("/portal/login", { body: { email, password } });
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    start(data.token, { face: "portal", deploymentId: data.deploymentId, roles: data.roles, expiresAt: data.expiresAt, name: email });
    navigate(state.next && state.next.startsWith("/portal/deployments/") ? state.next : `/portal/deployments/${data.deploymentId}`);
  }

  return (
    <Page title="Log in to the portal">
      {state.reason === "expired" && <p role="status">Your session has ended. Log in again to go on where you were.</p>}
      {state.registered && <p role="status">You are registered. Log in with your new password.</p>}
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <Field label="E-mail" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field label="Password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
    </Page>
  );
}
