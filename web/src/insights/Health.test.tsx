import { cleanup, render, screen, within } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";

const get = vi.fn();
vi.mock("../api/client", () => ({ api: { GET: (...a: unknown[]) => get(...a) } }));

const { DeploymentHealth } = await import("./Health");
const { NeedsAttention } = await import("./Notices");

const ok = (data: unknown) => ({ data, response: new Response(null, { status: 200 }) });
const refused = (status: number) => ({ error: { title: "Forbidden", status }, response: new Response(null, { status }) });

function at(path: string, el: React.ReactNode, route = "/portal/deployments/:id/health") {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route path={route} element={el} />
      </Routes>
    </MemoryRouter>,
  );
}

afterEach(() => {
  cleanup();
  get.mockReset();
});

describe("the health page", () => {
  it("groups the parts, says each status in words with what to do, and names console pages it cannot link", async () => {
    get.mockResolvedValue(
      ok({
        status: "critical",
        checkedAt: "2026-12-03T22:00:00Z",
        components: [
          { id: "subscription", kind: "subscription", status: "ok", title: "Subscription", reason: "Active.", link: "/app/portal/deployments/dep_x" },
          { id: "key:crt_n", kind: "keys", status: "critical", title: "Nightly build", reason: 'The key of the certificate "Nightly build" is disabled.', action: "Enable the key in AWS KMS.", link: "/app/console/certificates/crt_n" },
          { id: "kms", kind: "service", status: "ok", title: "Key service", reason: "KMS answered.", latencyMs: 12.4 },
        ],
      }),
    );
    at("/portal/deployments/dep_x/health", <DeploymentHealth />);
    expect(await screen.findByText("Overall: Needs action now.")).toBeTruthy();
    expect(get).toHaveBeenCalledWith("/portal/deployments/{id}/health", { params: { path: { id: "dep_x" } } });
    expect(screen.getAllByRole("heading", { level: 2 }).map((h) => h.textContent)).toEqual([
      "Database and key service OK",
      "Certificate keys Needs action now",
      "Subscription and plan OK",
    ]);
    const key = screen.getByRole("heading", { level: 3, name: "Nightly build" }).closest("li")!;
    expect(within(key).getByText("Needs action now")).toBeTruthy();
    expect(within(key).getByText("What to do:").parentElement?.textContent).toBe("What to do: Enable the key in AWS KMS.");
    expect(within(key).getByText("Certificates › the certificate")).toBeTruthy();
    expect(screen.getByText("Answered in", { exact: false }).textContent).toBe("Answered in 12 ms.");
    // A portal page is a link of the app (the router adds the base).
    expect(screen.getByRole("link", { name: /See it here/ }).getAttribute("href")).toBe("/portal/deployments/dep_x");
    expect(screen.getByRole("button", { name: "Check again" })).toBeTruthy();
  });

  it("shows a portal User the role's refusal", async () => {
    get.mockResolvedValue(refused(403));
    at("/portal/deployments/dep_x/health", <DeploymentHealth />);
    expect((await screen.findByRole("alert")).textContent).toContain("Your role does not allow reading this deployment's health.");
  });
});

describe("Needs attention", () => {
  it("says when nothing needs attention", async () => {
    get.mockResolvedValue(ok({ items: [] }));
    at("/portal/deployments/dep_x", <NeedsAttention id="dep_x" />, "/portal/deployments/:id");
    expect(await screen.findByText("Nothing needs attention.")).toBeTruthy();
  });

  it("lists notices most severe first with their severity in words", async () => {
    get.mockResolvedValue(
      ok({
        items: [
          { id: "a", severity: "warning", title: "Certificate expiring", detail: "Renew it.", since: "2026-12-01T00:00:00Z", link: "/app/portal/deployments/dep_x/settings" },
          { id: "b", severity: "critical", title: "Subscription suspended", detail: "Signing is refused.", since: "2026-12-02T00:00:00Z" },
        ],
      }),
    );
    at("/portal/deployments/dep_x", <NeedsAttention id="dep_x" />, "/portal/deployments/:id");
    const items = await screen.findAllByRole("listitem");
    expect(items.map((i) => i.querySelector("strong")?.textContent)).toEqual(["Subscription suspended", "Certificate expiring"]);
    expect(within(items[0]).getByText("Critical")).toBeTruthy();
    expect(within(items[1]).getByRole("link").getAttribute("href")).toBe("/portal/deployments/dep_x/settings");
  });

  it("leaves the overview alone for a role that may not read notices", async () => {
    get.mockResolvedValue(refused(403));
    const { container } = at("/portal/deployments/dep_x", <NeedsAttention id="dep_x" />, "/portal/deployments/:id");
    await vi.waitFor(() => expect(get).toHaveBeenCalled());
    await new Promise((r) => setTimeout(r, 0));
    expect(container.textContent).toBe("");
  });
});
