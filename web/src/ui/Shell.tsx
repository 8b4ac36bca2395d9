import { useEffect, useRef, useState, type ReactNode } from "react";
import { Link, NavLink, Navigate, useLocation } from "react-router-dom";
import { onUnavailable } from "../api/client";
import { useSession, type Face } from "../session";

export interface NavItem {
  to: string;
  label: string;
}

// Shell is every page's frame: a skip link, the face's navigation, who is signed in with a
// logout button, and a banner while the service answers 503.
export function Shell({ face, nav, children }: { face: Face; nav: NavItem[]; children: ReactNode }) {
  const { session, logout } = useSession();
  const [down, setDown] = useState(false);
  useEffect(() => onUnavailable(setDown), []);
  // After the app moves to another page, the keyboard and screen readers start at its content
  // (as after a page load they start at the top): the element that had the focus is gone.
  const { pathname } = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [pathname]);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to={`/${face}`} className="brand">
          signum <span>{face === "portal" ? "portal" : "console"}</span>
        </Link>
        {session && (
          <nav aria-label="Main">
            <ul>
              {nav.map((n) => (
                <li key={n.to}>
                  <NavLink to={n.to} end>
                    {n.label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {session && (
          <div className="who">
            <span>{session.name}</span>
            <button type="button" onClick={logout}>
              Log out
            </button>
          </div>
        )}
      </header>
      {down && (
        <div role="status" className="banner">
          The service is having trouble reaching one of its dependencies (database or key service). Your
          last request was not carried out; try again in a moment.
        </div>
      )}
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

// RequireSession sends a visitor without a session of this face to its login page,
// remembering the page.
export function RequireSession({ face, children }: { face: Face; children: ReactNode }) {
  const { session, ended } = useSession();
  const location = useLocation();
  if (!session || session.face !== face) {
    const next = ended === "logout" ? undefined : location.pathname + location.search;
    return <Navigate to={`/${face}/login`} replace state={{ next, reason: ended ?? undefined }} />;
  }
  return <>{children}</>;
}

// Page titles the document (for tabs and screen readers) and the page.
export function Page({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · signum`;
  }, [title]);
  return (
    <section aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title">{title}</h1>
        {actions}
      </div>
      {children}
    </section>
  );
}

export function NotFound() {
  return (
    <Page title="Page not found">
      <p>There is no such page. Check the address, or go back to where you came from.</p>
      <p>
        <Link to="/portal/login">Portal login</Link> · <Link to="/console/login">Console login</Link>
      </p>
    </Page>
  );
}

// Forbidden is shown when the API answers 403: the user's role does not allow this.
export function Forbidden({ what }: { what: string }) {
  return (
    <div role="alert" className="problem">
      <strong>Your role does not allow {what}.</strong>
      <p>Ask an administrator of this deployment for a role that does.</p>
    </div>
  );
}
