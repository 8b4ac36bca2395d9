import { useEffect, useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { api } from "../api/client";
import { show, type Shown } from "../api/problem";
import { Field } from "../ui/Field";
import { PasswordRules } from "../ui/PasswordRules";
import { ProblemBox } from "../ui/ProblemBox";
import { Page } from "../ui/Shell";
import { portalPasswordRules } from "./password";

// Register uses a deployment link (?token=...) to create a portal user.
export function PortalRegister() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [token, setToken] = useState(params.get("token") ?? "");
  // The link's token is a credential: out of the address bar and the history once read.
  useEffect(() => {
    if (params.has("token")) navigate("/portal/register", { replace: true });
  }, [params, navigate]);
  const [email, setEmail] = useState(params.get("email") ?? "");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);
  const rules = portalPasswordRules(password, email);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    const { data, error, response } = await api.POST("/portal/register", { body: { token, email, name, password } });
    setBusy(false);
    if (!data) {
      setProblem(show(error, response));
      return;
    }
    navigate("/portal/login", { state: { registered: data.email } });
  }

  return (
    <Page title="Register">
      <p>Your deployment link makes you a portal user of its deployment.</p>
      <form onSubmit={submit} className="form">
        <ProblemBox problem={problem} />
        <Field label="Deployment link token" required value={token} onChange={(e) => setToken(e.target.value)} error={problem?.fields.token} />
        <Field label="E-mail" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} error={problem?.fields.email} />
        <Field label="Name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} error={problem?.fields.name} />
        <Field
          label="Password"
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={problem?.fields.password}
          hint={<PasswordRules rules={rules} label="Password rules" />}
        />
        <button type="submit" disabled={busy}>
          Register
        </button>
      </form>
    </Page>
  );
}
