import { useEffect, useState } from "react";
import { api, type Schemas } from "../../api/client";
import { show, type Shown } from "../../api/problem";
import { ProblemBox } from "../../ui/ProblemBox";
import { loginHref } from "./fragment";
import "./sso.css";

type LoginDomain = Schemas["LoginDomain"];

const kindNames: Record<LoginDomain["kind"], string> = { oidc: "OpenID Connect", saml: "SAML" };

// SSOButtons offers a login at each of the deployment's OIDC and SAML domains: a link (a
// navigation, not a request from the page) to the API's start route, which sends the browser
// to the domain's identity provider; the IdP sends it back to this page with a token or a
// refusal in the fragment. Nothing shows when the deployment has no such domain.
export function SSOButtons() {
  const [domains, setDomains] = useState<LoginDomain[] | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);

  useEffect(() => {
    let live = true;
    void api.GET("/console/login/domains").then(({ data, error, response }) => {
      if (!live) return;
      if (!data) {
        setProblem(show(error, response));
        return;
      }
      setDomains(data.items);
    });
    return () => {
      live = false;
    };
  }, []);

  if (problem) {
    return (
      <section aria-labelledby="sso-heading">
        <h2 id="sso-heading">Log in at your organisation's identity provider</h2>
        <ProblemBox problem={{ ...problem, title: "The identity providers could not be listed" }} />
      </section>
    );
  }
  if (!domains || domains.length === 0) return null;
  return (
    <section aria-labelledby="sso-heading">
      <h2 id="sso-heading">Log in at your organisation's identity provider</h2>
      <p>Users of these domains log in as user@alias at their identity provider, not with a password here.</p>
      <ul className="sso-domains">
        {domains.map((d) => (
          <li key={d.id}>
            <a className="button secondary" href={loginHref(d.id)}>
              Log in with {d.name} <span className="sso-kind">({kindNames[d.kind] ?? d.kind})</span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
