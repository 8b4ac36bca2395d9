import { cleanup, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";

// The API answers from here: openapi-fetch takes fetch and Request when the client module
// loads, so they are replaced before any import (vi.hoisted). Node's Request takes no relative
// URL, as the app's same-origin ones are: they are made absolute on a test origin.
const api = vi.hoisted(() => {
  const state = { domains: [] as unknown[], status: 200 };
  const NodeRequest = globalThis.Request;
  globalThis.Request = class extends NodeRequest {
    constructor(input: RequestInfo | URL, init?: RequestInit) {
      super(typeof input === "string" && input.startsWith("/") ? "http://console.test" + input : input, init);
    }
  } as typeof Request;
  globalThis.fetch = (async (input: RequestInfo | URL) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url.endsWith("/console/login/domains")) {
      const body = state.status === 200 ? { items: state.domains } : { type: "about:blank", title: "Service unavailable", status: state.status, detail: "Retry later." };
      return new Response(JSON.stringify(body), { status: state.status, headers: { "Content-Type": state.status === 200 ? "application/json" : "application/problem+json" } });
    }
    return new Response("{}", { status: 404, headers: { "Content-Type": "application/json" } });
  }) as typeof fetch;
  return state;
});

import { ConsoleLogin } from "../Login";
import { SessionProvider } from "../../session";
import { SSOButtons } from "./SSOButtons";

afterEach(() => {
  cleanup();
  api.domains = [];
  api.status = 200;
  window.history.replaceState(null, "", "/");
});

function loginPage() {
  return render(
    <MemoryRouter initialEntries={["/console/login"]}>
      <SessionProvider>
        <ConsoleLogin />
      </SessionProvider>
    </MemoryRouter>,
  );
}

describe("the identity providers on the login page", () => {
  it("offers one login link per OIDC or SAML domain, to the API's start route", async () => {
    api.domains = [
      { id: "dom_a", name: "Acme IdP", kind: "oidc" },
      { id: "dom_b", name: "Okta", kind: "saml" },
    ];
    render(<SSOButtons />);
    const acme = await screen.findByRole("link", { name: /^Log in with Acme IdP/ });
    expect(acme.getAttribute("href")).toBe("/console/domains/dom_a/login");
    expect(screen.getByRole("link", { name: "Log in with Okta (SAML)" }).getAttribute("href")).toBe("/console/domains/dom_b/login");
    expect(screen.getByRole("heading", { level: 2 }).textContent).toContain("identity provider");
  });

  it("shows nothing without such domains, and the problem when they cannot be listed", async () => {
    const { container } = render(<SSOButtons />);
    await waitFor(() => expect(container.innerHTML).toBe(""));
    cleanup();
    api.status = 503;
    render(<SSOButtons />);
    expect((await screen.findByRole("alert")).textContent).toContain("Retry later.");
  });

  it("shows a refused login's reason from the fragment, and takes the fragment out of the address", async () => {
    window.history.replaceState(null, "", "/app/console/login#error=Your+IdP+groups+map+to+no+role.&status=403");
    loginPage();
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("You may not log in to this console");
    expect(alert.textContent).toContain("Your IdP groups map to no role.");
    expect(window.location.hash).toBe("");
  });

  it("shows a test login's outcome as a status, logging nobody in", async () => {
    window.history.replaceState(null, "", "/app/console/login#test=Console+user+alice%40acme+would+be+created.");
    loginPage();
    const status = await screen.findByRole("status");
    expect(status.textContent).toContain("Console user alice@acme would be created.");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(window.location.hash).toBe("");
  });
});
