import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { show, type Shown } from "../api/problem";
import { ProblemBox } from "../ui/ProblemBox";
import { count, marketplaceName, states, type Subscription } from "../marketplace/describe";
import { known, nextMonth, usage, utcDay } from "./usage";
import "./subscription.css";

type PortalSubscription = Schemas["PortalSubscription"];

// UsageLine is one limit: the use in words and, when the plan limits it, a meter.
function UsageLine({ label, used, limit }: { label: string; used: number; limit: number }) {
  const u = usage(used, limit);
  return (
    <>
      <dt>{label}</dt>
      <dd className="usage">
        <span className={u.full ? "usage-text status-bad" : "usage-text"}>
          {u.text}
          {u.full && " (limit reached)"}
        </span>
        {u.limit > 0 && <meter aria-label={label} min={0} max={u.limit} value={u.value} low={u.limit * 0.8} high={u.limit * 0.95} optimum={0} />}
      </dd>
    </>
  );
}

// MarketplaceLine says where the subscription was bought and by whom.
function MarketplaceLine({ sub }: { sub: Subscription }) {
  if (sub.marketplace === "aws") {
    return (
      <>
        {marketplaceName("aws")}
        {sub.awsAccountId && (
          <>
            , AWS account <code>{sub.awsAccountId}</code>
          </>
        )}
      </>
    );
  }
  return (
    <>
      {marketplaceName("azure")}
      {sub.name && <>, subscription “{sub.name}”</>}
      {sub.purchaserEmail && <span className="hint block">Bought by {sub.purchaserEmail}</span>}
    </>
  );
}

// SubscriptionPanel shows a deployment's plan, its limits and the use of them, and the
// marketplace subscription that pays for it with what its state means; what stops signing or
// asks for a larger plan comes first.
export function SubscriptionPanel({ id }: { id: string }) {
  const [data, setData] = useState<PortalSubscription | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);

  useEffect(() => {
    let live = true;
    void api.GET("/portal/deployments/{id}/subscription", { params: { path: { id } } }).then(({ data, error, response }) => {
      if (!live) return;
      if (data) {
        setData(data);
        setProblem(null);
      } else {
        setProblem(show(error, response));
      }
    });
    return () => {
      live = false;
    };
  }, [id]);

  return (
    <section aria-labelledby="plan-heading" className="plan-panel">
      <h2 id="plan-heading">Plan and subscription</h2>
      {!data ? (
        problem ? <ProblemBox problem={problem} /> : <p role="status">Loading the plan…</p>
      ) : (
        <PanelBody s={data} />
      )}
    </section>
  );
}

// PanelBody is the panel once the API has answered (exported for its tests).
export function PanelBody({ s }: { s: PortalSubscription }) {
  const sub = s.subscription;
  const state = states[sub?.state ?? s.status];
  const seller = sub ? marketplaceName(sub.marketplace) : "the marketplace";
  return (
    <>
      {sub && state.bad && (
        <div role="status" className="plan-alert">
          <strong>The subscription is {state.label.toLowerCase()}.</strong> {state.meaning}{" "}
          {sub.state !== "unsubscribe-pending" && <>A portal Admin settles it in {seller}.</>}
        </div>
      )}
      {s.signingCapped && (
        <div role="status" className="plan-alert">
          <strong>Signing is paused:</strong> this month's signatures are used up, and the plan caps them. Signing resumes on{" "}
          {utcDay(nextMonth(new Date()))} (UTC), or as soon as a larger plan is chosen in {seller}.
        </div>
      )}
      {s.upgrade && (
        <div role="status" className="plan-alert">
          <strong>A limit is reached.</strong> {s.upgrade}
        </div>
      )}
      <dl className="facts">
        <dt>Plan</dt>
        <dd>
          {s.planName || s.plan} <span className="hint">({s.plan})</span>
        </dd>
        {!!s.quantity && (
          <>
            <dt>Seats</dt>
            <dd>{count(s.quantity)}</dd>
          </>
        )}
        <dt>Region</dt>
        <dd>
          <code>{s.region}</code>
        </dd>
        {sub && (
          <>
            <dt>Marketplace</dt>
            <dd>
              <MarketplaceLine sub={sub} />
            </dd>
            <dt>Subscription state</dt>
            <dd>
              <span className={state.bad ? "status-bad" : "status-active"}>{state.label}</span>
              {!state.bad && <span className="hint block">{state.meaning}</span>}
              {known(sub.stateAt) && <span className="hint block">Since {new Date(sub.stateAt).toLocaleString()}</span>}
            </dd>
          </>
        )}
      </dl>
      <h3>Usage</h3>
      <dl className="facts">
        <UsageLine label="Certificates" used={s.usage.certificates} limit={s.limits.certificates} />
        <UsageLine label="Console users" used={s.usage.users} limit={s.limits.users} />
        <UsageLine label="Signatures this month" used={s.usage.signaturesThisMonth} limit={s.limits.signaturesPerMonth} />
      </dl>
      {!sub && <p className="hint">No marketplace subscription pays for this deployment: the service's operator set it up.</p>}
      {s.history.length > 0 && (
        <>
          <h3>Changes</h3>
          <div className="table-wrap">
            <table>
              <caption className="hint">The subscription's last changes, newest first, as the system log has them.</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Change</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {s.history.map((h, i) => (
                  <tr key={i}>
                    <td>{new Date(h.at).toLocaleString()}</td>
                    <td>{h.change}</td>
                    <td>{h.detail}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}
