// How the marketplace pages and the portal's subscription panel put a subscription into words.
import type { Schemas } from "../api/client";

export type Subscription = Schemas["Subscription"];
export type SubscriptionState = Subscription["state"];

const numbers = new Intl.NumberFormat("en");

// count writes a number with thousands separators ("100,000").
export function count(n: number): string {
  return numbers.format(n);
}

// limitText is one of a plan's limits as the buyer reads it (0 means none).
export function limitText(n: number): string {
  return n === 0 ? "No limit" : count(n);
}

export function marketplaceName(m: Subscription["marketplace"]): string {
  return m === "aws" ? "AWS Marketplace" : "Azure Marketplace";
}

// where says how to reach the subscription at its marketplace, for the messages that send the
// buyer back there.
export function where(m?: Subscription["marketplace"]): string {
  if (m === "aws") return "open the product in AWS Marketplace (Your software subscriptions) and choose “Set up your account”";
  if (m === "azure") return "open the subscription in the Azure portal (SaaS) and choose “Configure account now”";
  return "open the product in AWS Marketplace again and choose “Set up your account”, or open the subscription in the Azure portal and choose “Configure account now”";
}

// states names each subscription state and says what it means for the deployment
// (docs/problems.md, subscription-inactive).
export const states: Record<SubscriptionState, { label: string; meaning: string; bad: boolean }> = {
  pending: {
    label: "Pending",
    meaning: "Subscribed at the marketplace, not registered yet: registering creates the deployment.",
    bad: false,
  },
  active: {
    label: "Active",
    meaning: "Everything works: the portal, the console and signing.",
    bad: false,
  },
  suspended: {
    label: "Suspended",
    meaning:
      "Signing is refused and the console is read-only (the portal too) until the marketplace reinstates the subscription, usually once its payment is settled. Nothing is deleted.",
    bad: true,
  },
  "unsubscribe-pending": {
    label: "Unsubscribe pending",
    meaning: "The subscription is being cancelled at the marketplace. Everything works until the cancellation takes effect.",
    bad: true,
  },
  cancelled: {
    label: "Cancelled",
    meaning:
      "Signing and the console are refused and the portal is read-only. The deployment's data is kept for the retention period; subscribe again in the marketplace to use it.",
    bad: true,
  },
};
