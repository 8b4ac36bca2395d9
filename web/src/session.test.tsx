import { act, cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { afterEach, describe, expect, it } from "vitest";
import { endSession, hasToken } from "./api/client";
import { consoleResumeKey, SessionProvider, useSession } from "./session";
import { RequireSession } from "./ui/Shell";

// Login shows what the login page receives from RequireSession.
function Login() {
  const state = (useLocation().state ?? {}) as { next?: string; reason?: string };
  return <p>login next={state.next ?? "-"} reason={state.reason ?? "-"}</p>;
}

// Start logs in, as the login page does, and goes to the policies.
function Start() {
  const { start } = useSession();
  const navigate = useNavigate();
  return (
    <button
      type="button"
      onClick={() => {
        start("tok", { face: "console", deploymentId: "dep_x", roles: ["console-admin"], expiresAt: "", name: "ada" });
        navigate("/console/policies");
      }}
    >
      start
    </button>
  );
}

function app(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <SessionProvider>
        <Start />
        <Routes>
          <Route path="/console/login" element={<Login />} />
          <Route path="/console/policies" element={<RequireSession face="console"><p>policies</p></RequireSession>} />
        </Routes>
      </SessionProvider>
    </MemoryRouter>,
  );
}

afterEach(() => {
  cleanup();
  sessionStorage.clear();
});

describe("the end of a session", () => {
  it("leads a visitor without a session to the login page, remembering the page", () => {
    app("/console/policies?x=1");
    expect(screen.getByText("login next=/console/policies?x=1 reason=-")).toBeTruthy();
  });

  it("on expiry, forgets the token and keeps the page and the reason for the login page", () => {
    app("/console/login");
    act(() => screen.getByText("start").click());
    expect(screen.getByText("policies")).toBeTruthy();
    expect(hasToken()).toBe(true);
    act(() => endSession("expired"));
    expect(hasToken()).toBe(false);
    expect(screen.getByText("login next=/console/policies reason=expired")).toBeTruthy();
    expect(sessionStorage.getItem(consoleResumeKey)).toBe("/console/policies");
  });

  it("on logout, forgets the page too", () => {
    app("/console/login");
    act(() => screen.getByText("start").click());
    act(() => endSession("logout"));
    expect(screen.getByText("login next=- reason=logout")).toBeTruthy();
    expect(sessionStorage.getItem(consoleResumeKey)).toBeNull();
  });
});
