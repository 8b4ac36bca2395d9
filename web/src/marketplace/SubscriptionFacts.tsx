import { count, limitText, marketplaceName, states, type Subscription } from "./describe";

// SubscriptionFacts shows what a marketplace subscription is: where it was bought, by whom,
// its plan, region, limits and state.
export function SubscriptionFacts({ sub }: { sub: Subscription }) {
  const state = states[sub.state];
  return (
    <dl className="facts">
      <dt>Marketplace</dt>
      <dd>{marketplaceName(sub.marketplace)}</dd>
      {sub.name && (
        <>
          <dt>Subscription name</dt>
          <dd>{sub.name}</dd>
        </>
      )}
      {sub.awsAccountId && (
        <>
          <dt>AWS account</dt>
          <dd>
            <code>{sub.awsAccountId}</code>
          </dd>
        </>
      )}
      {sub.purchaserEmail && (
        <>
          <dt>Purchaser e-mail</dt>
          <dd>{sub.purchaserEmail}</dd>
        </>
      )}
      <dt>Plan</dt>
      <dd>
        {sub.planName} <span className="hint">({sub.plan})</span>
        {sub.freeTrial && <span className="hint block">Free trial</span>}
      </dd>
      {!!sub.quantity && (
        <>
          <dt>Seats</dt>
          <dd>{count(sub.quantity)}</dd>
        </>
      )}
      <dt>Region</dt>
      <dd>
        <code>{sub.region}</code>
        <span className="hint block">Where the deployment's keys and data live.</span>
      </dd>
      <dt>Certificates</dt>
      <dd>{limitText(sub.limits.certificates)}</dd>
      <dt>Console users</dt>
      <dd>{limitText(sub.limits.users)}</dd>
      <dt>Signatures per month</dt>
      <dd>{limitText(sub.limits.signaturesPerMonth)}</dd>
      <dt>State</dt>
      <dd>
        <span className={state.bad ? "status-bad" : "status-active"}>{state.label}</span>
        <span className="hint block">{state.meaning}</span>
      </dd>
    </dl>
  );
}
