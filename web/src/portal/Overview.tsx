import { useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { ProblemBox } from "../ui/ProblemBox";
import { Forbidden, Page } from "../ui/Shell";
import { can, useSession } from "../session";
import { SubscriptionPanel } from "./SubscriptionPanel";
import { NeedsAttention } from "../insights/Notices";
import "./portal.css";

type Deployment = Schemas["Deployment"];

// consoleUrl is where a deployment's console is served: the app under /app/console/ on the
// deployment's own domain name, with this page's scheme and port (locally, demo.localhost on
// the portal's port; in AWS, the deployment's host under the console domain on 443).
export function consoleUrl(domainName: string) {
  const port = window.location.port ? ":" + window.location.port : "";
  return `${window.location.protocol}//${domainName}${port}/app/console/`;
}

// SignerEndpoint says where certificate users' agents send their client certificates (mutual
// TLS), as the service reports it for this deployment.
function SignerEndpoint({ endpoint }: { endpoint?: string }) {
  if (!endpoint) return <>None: the deployment has no domain name yet, or the service has no mutual-TLS domain.</>;
  return (
    <>
      <code>{endpoint}</code>
      <span className="hint block">Console users of the Certificate users domain send their client certificate there instead of logging in.</span>
    </>
  );
}

// DeploymentOverview shows the deployment as the portal sees it and opens its console with the
// portal user's identity.
export function DeploymentOverview() {
  const { id = "" } = useParams();
  const { session } = useSession();
  const [deployment, setDeployment] = useState<Deployment | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [consoleProblem, setConsoleProblem] = useState<Shown | null>(null);
  const [opening, setOpening] = useState(false);

  useEffect(() => {
    let live = true;
    void api.GET("/portal/deployments/{id}", { params: { path: { id } } }).then(({ data, error, response }) => {
      if (!live) return;
      if (data) {
        setDeployment(data);
        setProblem(null);
      } else {
        setProblem(show(error, response));
      }
    });
    return () => {
      live = false;
    };
  }, [id]);

  async function openConsole() {
    setOpening(true);
    setConsoleProblem(null);
    const { data, error, response } = await api.POST("/portal/deployments/{id}/console-token", { params: { path: { id } } });
    if (!data) {
      setOpening(false);
      setConsoleProblem(show(error, response));
      return;
    }
    // Only the name the service vouches for (one under its console domain): never one read
    // elsewhere, since the token goes there.
    const domain = data.consoleDomain;
    if (!domain) {
      setOpening(false);
      setConsoleProblem({ title: "The deployment has no domain name", detail: "Set one in Settings first.", fields: {} });
      return;
    }
    // The token travels in the fragment, which the browser never sends to a server; the
    // console's login page takes it out of the address at once.
    const fragment = new URLSearchParams({ token: data.token, expiresAt: data.expiresAt });
    window.location.assign(`${consoleUrl(domain)}login#${fragment.toString()}`);
  }

  if (problem?.status === 403) {
    return (
      <Page title="Deployment">
        <Forbidden what="reading this deployment" />
      </Page>
    );
  }
  if (!deployment) {
    return (
      <Page title="Deployment">
        {problem ? <ProblemBox problem={problem} /> : <p role="status">Loading the deployment…</p>}
      </Page>
    );
  }

  const d = deployment;
  const admin = can(session, "Admin");
  return (
    <Page title={d.name}>
      <NeedsAttention id={d.id} />
      <h2>Deployment</h2>
      <dl className="facts">
        <dt>Status</dt>
        <dd className={d.status === "active" ? "status-active" : "status-bad"}>{d.status}</dd>
        <dt>Software version</dt>
        <dd>
          {d.softwareVersion} <Link to={`/portal/deployments/${id}/updates`}>Software updates</Link>
        </dd>
        <dt>Domain name</dt>
        <dd>{d.domainName ? <code>{d.domainName}</code> : "None yet"}</dd>
        <dt>Console address</dt>
        <dd>{d.domainName ? <code>{consoleUrl(d.domainName)}</code> : "None until the deployment has a domain name."}</dd>
        <dt>Signer, mutual TLS</dt>
        <dd>
          <SignerEndpoint endpoint={d.signerEndpoint} />
        </dd>
        <dt>IP allowlist</dt>
        <dd>
          {d.ipAllowlist.length === 0 ? (
            "Any address: no allowlist is set."
          ) : (
            <ul className="plain">
              {d.ipAllowlist.map((p) => (
                <li key={p}>
                  <code>{p}</code>
                </li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Deployment id</dt>
        <dd>
          <code>{d.id}</code>
        </dd>
      </dl>

      <SubscriptionPanel id={d.id} />

      <h2>Console</h2>
      {d.status !== "active" && (
        <p className="notice">
          {d.status === "suspended"
            ? "The subscription is suspended: the console is read-only and signing is refused until the marketplace reinstates it."
            : "The subscription is cancelled: the console and the signer are closed; the operator can hand over the signing-event log."}
        </p>
      )}
      {d.domainName ? (
        <>
          <p>
            The console opens on the deployment's own address with your portal identity; your portal role decides what you
            may do there. Requests to it must come from an address on the IP allowlist.
          </p>
          <ProblemBox problem={consoleProblem} />
          <button type="button" onClick={openConsole} disabled={opening}>
            {opening ? "Opening the console…" : "Open the console"}
          </button>
        </>
      ) : (
        <p className="notice">
          The console is served on the deployment's domain name, and this deployment has none yet.{" "}
          {admin ? (
            <Link to={`/portal/deployments/${id}/settings`}>Set a domain name in Settings</Link>
          ) : (
            <>
              Ask a portal Admin to set one in <Link to={`/portal/deployments/${id}/settings`}>Settings</Link>
            </>
          )}
          .
        </p>
      )}
    </Page>
  );
}
