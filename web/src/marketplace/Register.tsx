import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { api } from "../api/client";
import { show, type Shown } from "../api/problem";
import { Field } from "../ui/Field";
import { ProblemBox } from "../ui/ProblemBox";
import { Page } from "../ui/Shell";
import { consoleUrl } from "../portal/Overview";
import { readFragment, type Arrival } from "./fragment";
import { firstAdminPath } from "./links";
import { marketplaceName, where, type Subscription } from "./describe";
import { SubscriptionFacts } from "./SubscriptionFacts";
import "./marketplace.css";

type Registered = NonNullable<Awaited<ReturnType<typeof register>>["data"]>;

function register(body: { ticket: string; name: string; domainName: string; adminEmail: string }) {
  return api.POST("/marketplace/registrations", { body });
}

// StartAgain says how to get a new ticket: the marketplace hands one out each time the buyer
// comes from it.
function StartAgain({ marketplace }: { marketplace?: Subscription["marketplace"] }) {
  return <p>Start again from the marketplace: {where(marketplace)}. It sends you back here with a new registration ticket.</p>;
}

// MarketplaceRegister is where a marketplace sends its buyer (AWS through the fulfilment URL,
// Azure through the landing page) with a registration ticket in the fragment: it shows what
// was bought and creates the deployment, then hands out the first Admin's deployment link.
export function MarketplaceRegister() {
  const location = useLocation();
  const navigate = useNavigate();
  // Read before the address is cleaned below, and again when only the fragment changes (the
  // browser then stays on the page).
  const [arrival, setArrival] = useState<Arrival>(() => readFragment(location.hash));
  // The ticket is a credential for an hour: out of the address bar and the history once read.
  useEffect(() => {
    if (!location.hash) return;
    setArrival(readFragment(location.hash));
    navigate({ pathname: location.pathname, search: location.search }, { replace: true });
  }, [location.hash, location.pathname, location.search, navigate]);

  if ("error" in arrival) {
    return (
      <Page title="Register your subscription">
        <div role="alert" className="problem">
          <strong>The marketplace's registration could not be used</strong>
          <p>{arrival.error}</p>
        </div>
        <StartAgain marketplace="aws" />
      </Page>
    );
  }
  if ("none" in arrival) {
    return (
      <Page title="Register your subscription">
        <p className="notice">
          This page registers a subscription bought in AWS Marketplace or Azure Marketplace, and needs the registration ticket the
          marketplace sends you here with. A ticket is read only once: after a reload the page has none.
        </p>
        <StartAgain />
        <p>
          Registered already? Portal users <Link to="/portal/login">log in to the portal</Link>.
        </p>
      </Page>
    );
  }
  return <Registration key={arrival.ticket} ticket={arrival.ticket} />;
}

function Registration({ ticket }: { ticket: string }) {
  const [sub, setSub] = useState<Subscription | null>(null);
  const [loadProblem, setLoadProblem] = useState<Shown | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [done, setDone] = useState<Registered | null>(null);

  useEffect(() => {
    let live = true;
    void api.POST("/marketplace/registrations/preview", { body: { ticket } }).then(({ data, error, response }) => {
      if (!live) return;
      if (data) {
        setSub(data);
        setLoadProblem(null);
      } else {
        setLoadProblem(show(error, response));
      }
    });
    return () => {
      live = false;
    };
  }, [ticket, attempt]);

  if (done) return <RegisteredView done={done} />;
  if (!sub) {
    return (
      <Page title="Register your subscription">
        {loadProblem ? (
          <>
            <ProblemBox problem={loadProblem} />
            {(loadProblem.status ?? 500) >= 500 ? (
              <p>
                <button type="button" onClick={() => setAttempt((a) => a + 1)}>
                  Try again
                </button>
              </p>
            ) : (
              <StartAgain />
            )}
          </>
        ) : (
          <p role="status">Reading your subscription…</p>
        )}
      </Page>
    );
  }
  return <RegistrationForm ticket={ticket} sub={sub} onRegistered={setDone} onStale={setSub} />;
}

function RegistrationForm({
  ticket,
  sub,
  onRegistered,
  onStale,
}: {
  ticket: string;
  sub: Subscription;
  onRegistered: (r: Registered) => void;
  onStale: (s: Subscription) => void;
}) {
  const [name, setName] = useState(sub.name ?? "");
  const [domainName, setDomainName] = useState("");
  const [adminEmail, setAdminEmail] = useState(sub.purchaserEmail ?? "");
  const [problem, setProblem] = useState<Shown | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    const { data, error, response } = await register({ ticket, name: name.trim(), domainName: domainName.trim(), adminEmail: adminEmail.trim() });
    if (data) {
      onRegistered(data);
      return;
    }
    const shown = show(error, response);
    // A conflict is either this subscription registered meanwhile (the page then says so) or a
    // domain name another deployment uses (the service's detail says which).
    if (shown.status === 409) {
      const again = await api.POST("/marketplace/registrations/preview", { body: { ticket } });
      if (again.data?.deploymentId) {
        setBusy(false);
        onStale(again.data);
        return;
      }
    }
    setBusy(false);
    setProblem(shown);
  }

  const registered = !!sub.deploymentId;
  const cancelled = sub.state === "cancelled";
  const fields = problem?.fields ?? {};
  return (
    <Page title="Register your subscription">
      {!registered && !cancelled && (
        <p>
          You subscribed to signum in {marketplaceName(sub.marketplace)}. Registering creates your deployment on this plan and gives
          you the link with which its first Admin registers.
        </p>
      )}
      <h2>Your subscription</h2>
      <SubscriptionFacts sub={sub} />

      <h2>Your deployment</h2>
      {registered ? (
        <div className="notice" role="status">
          <p>
            <strong>This subscription is registered already</strong> (deployment <code>{sub.deploymentId}</code>). Its portal users{" "}
            <Link to="/portal/login">log in to the portal</Link>; a portal Admin invites others there.
          </p>
        </div>
      ) : cancelled ? (
        <div className="notice" role="status">
          <p>
            <strong>This subscription is cancelled</strong> and can no longer be registered. Subscribe again in{" "}
            {marketplaceName(sub.marketplace)}.
          </p>
        </div>
      ) : (
        <form onSubmit={submit} className="form">
          <ProblemBox problem={problem} />
          {problem?.status === 410 && <StartAgain marketplace={sub.marketplace} />}
          {fields.ticket && (
            <div role="alert" className="problem">
              <p>The registration ticket {fields.ticket}.</p>
              <StartAgain marketplace={sub.marketplace} />
            </div>
          )}
          <Field
            label="Deployment name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={100}
            error={fields.name}
            hint="What the portal and the console call it; you can change it later. Left empty, it is named after the subscription."
          />
          <Field
            label="Domain name (optional)"
            value={domainName}
            onChange={(e) => setDomainName(e.target.value)}
            autoComplete="off"
            spellCheck={false}
            error={fields.domainName}
            hint={
              <>
                The host name the console and the signer answer on: one label under the service's console domain, like{" "}
                <code>acme.sign.example.com</code> (<code>acme.localhost</code> on a local server). A portal Admin can set it later in
                Settings.
              </>
            }
          />
          <Field
            label="First Admin's e-mail"
            type="email"
            autoComplete="email"
            required
            value={adminEmail}
            onChange={(e) => setAdminEmail(e.target.value)}
            error={fields.adminEmail ?? fields.firstAdminEmail}
            hint="Only this address can register with the first Admin's link. The first Admin becomes the deployment's Signum Administrator and invites everyone else."
          />
          <div>
            <button type="submit" disabled={busy}>
              {busy ? "Registering…" : "Register the deployment"}
            </button>
          </div>
        </form>
      )}
    </Page>
  );
}

function RegisteredView({ done }: { done: Registered }) {
  const { deployment: d, firstAdminInvite: invite } = done;
  const path = firstAdminPath(invite.token, invite.email);
  const url = `${window.location.origin}/app${path}`;
  const [copied, setCopied] = useState("");
  const heading = useRef<HTMLHeadingElement>(null);
  // The form is gone: the keyboard and screen readers continue at what replaced it.
  useEffect(() => heading.current?.focus(), []);

  async function copy() {
    try {
      await navigator.clipboard.writeText(url);
      setCopied("The link is copied.");
    } catch {
      setCopied("The browser did not let the page copy: select the link and copy it yourself.");
    }
  }

  return (
    <Page title="Your deployment is registered">
      <div className="notice first-admin" role="status">
        <h2 ref={heading} tabIndex={-1}>
          Next: register as the first Admin
        </h2>
        <p>
          The deployment <strong>{d.name}</strong> is created. Its first Admin registers with this link
          {invite.email ? <> (only {invite.email} can)</> : null}. The link works <strong>once</strong> and expires at{" "}
          <strong>{new Date(invite.expiresAt).toLocaleString()}</strong>; it is shown only now.
        </p>
        <p>
          <Link className="button prominent" to={path}>
            Register as the first Admin
          </Link>
        </p>
        <div className="field">
          <label htmlFor="first-admin-url">First Admin's registration link (to send it to someone else)</label>
          <input id="first-admin-url" readOnly value={url} className="mono" onFocus={(e) => e.target.select()} />
        </div>
        <div className="row">
          <button type="button" className="secondary" onClick={copy}>
            Copy the link
          </button>
          <span>{copied}</span>
        </div>
      </div>

      <h2>Your deployment</h2>
      <dl className="facts">
        <dt>Name</dt>
        <dd>{d.name}</dd>
        <dt>Plan</dt>
        <dd>
          {done.subscription.planName} <span className="hint">({d.plan})</span>
        </dd>
        <dt>Status</dt>
        <dd className={d.status === "active" ? "status-active" : "status-bad"}>{d.status}</dd>
        <dt>Domain name</dt>
        <dd>{d.domainName ? <code>{d.domainName}</code> : "None yet: a portal Admin sets one in Settings."}</dd>
        {d.domainName && (
          <>
            <dt>Console address</dt>
            <dd>
              <code>{consoleUrl(d.domainName)}</code>
            </dd>
          </>
        )}
        <dt>Deployment id</dt>
        <dd>
          <code>{d.id}</code>
        </dd>
      </dl>
    </Page>
  );
}
