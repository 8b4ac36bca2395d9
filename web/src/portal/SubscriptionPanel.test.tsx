import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import { PanelBody } from "./SubscriptionPanel";

type PortalSubscription = Schemas["PortalSubscription"];

const base: PortalSubscription = {
  plan: "standard",
  planName: "Standard",
  region: "us-east-1",
  status: "active",
  limits: { certificates: 50, users: 100, signaturesPerMonth: 100000 },
  usage: { certificates: 3, users: 100, signaturesThisMonth: 250 },
  signingCapped: false,
  history: [],
};

const azure: PortalSubscription["subscription"] = {
  id: "sub_1",
  marketplace: "azure",
  state: "active",
  plan: "enterprise",
  planName: "Enterprise",
  quantity: 5,
  region: "us-east-1",
  limits: { certificates: 1000, users: 5, signaturesPerMonth: 0 },
  name: "Contoso signing",
  purchaserEmail: "buyer@contoso.example",
  stateAt: "0001-01-01T00:00:00Z",
  createdAt: "2026-07-01T10:00:00Z",
};

afterEach(cleanup);

describe("the subscription panel", () => {
  it("shows use against limits as words and labelled meters, and a reached limit as such", () => {
    render(<PanelBody s={base} />);
    expect(screen.getByText("3 of 50")).toBeTruthy();
    expect(screen.getByRole("meter", { name: "Certificates" }).getAttribute("max")).toBe("50");
    expect(screen.getByText(/100 of 100/).textContent).toContain("limit reached");
    expect(screen.getByText("250 of 100,000")).toBeTruthy();
    // Without a marketplace subscription: the plan only, and why.
    expect(screen.queryByText("Subscription state")).toBeNull();
    expect(screen.getByText(/No marketplace subscription pays for this deployment/)).toBeTruthy();
  });

  it("announces a signing cap and the upgrade the service asks for", () => {
    render(<PanelBody s={{ ...base, plan: "trial", planName: "Trial", signingCapped: true, upgrade: "The trial plan's limit is reached for signatures this month." }} />);
    const statuses = screen.getAllByRole("status").map((s) => s.textContent);
    expect(statuses.some((t) => t?.startsWith("Signing is paused"))).toBe(true);
    expect(statuses.some((t) => t?.includes("The trial plan's limit is reached"))).toBe(true);
  });

  it("draws no meter for an unlimited dimension and shows seats", () => {
    render(<PanelBody s={{ ...base, plan: "enterprise", planName: "Enterprise", quantity: 5, limits: azure.limits, usage: { certificates: 0, users: 2, signaturesThisMonth: 9 }, subscription: azure }} />);
    expect(screen.getByText("9 (no limit)")).toBeTruthy();
    expect(screen.queryByRole("meter", { name: "Signatures this month" })).toBeNull();
    expect(screen.getByText("Seats").nextElementSibling?.textContent).toBe("5");
    expect(screen.getByText(/subscription “Contoso signing”/)).toBeTruthy();
    // The service's zero time is not shown as year 1.
    expect(screen.queryByText(/Since/)).toBeNull();
  });

  it("explains a suspended subscription where it is seen first", () => {
    render(<PanelBody s={{ ...base, status: "suspended", subscription: { ...azure, state: "suspended", stateAt: "2026-07-02T10:00:00Z" } }} />);
    const alert = screen.getAllByRole("status").find((s) => s.textContent?.startsWith("The subscription is suspended."));
    expect(alert?.textContent).toMatch(/Signing is refused and the console is read-only.*reinstates.*Azure Marketplace/);
    expect(screen.getByText(/Since/)).toBeTruthy();
  });
});

describe("the subscription's changes", () => {
  afterEach(cleanup);
  it("lists them, newest first as the API gives them", () => {
    render(
      <PanelBody
        s={{
          ...base,
          subscription: azure,
          history: [
            { at: "2026-12-03T10:00:00Z", change: "suspend", detail: "Suspend (operation 1): suspended (was active)" },
            { at: "2026-12-02T10:00:00Z", change: "activated", detail: "Azure subscription activated on plan standard" },
          ],
        }}
      />,
    );
    const rows = screen.getAllByRole("row");
    expect(rows).toHaveLength(3);
    expect(rows[1].textContent).toContain("suspend");
    expect(rows[2].textContent).toContain("activated");
  });
  it("shows no table without changes", () => {
    render(<PanelBody s={base} />);
    expect(screen.queryByRole("table")).toBeNull();
  });
});
