// The signed-in user, in memory: which face (portal or console), the deployment, the roles and
// when the token expires. Logging out, or a token the API no longer takes, clears it; the page
// then leads back to that face's login page (RequireSession), which remembers where the user
// was when the token expired, and forgets it on a logout.
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { useLocation } from "react-router-dom";
import { api, endSession, onSessionEnd, setToken } from "./api/client";

export type Face = "portal" | "console";

export interface Session {
  face: Face;
  deploymentId: string;
  roles: string[];
  expiresAt: string;
  // name is what the header shows (the e-mail or user name).
  name: string;
  // areas are a console caller's level per area, joined from its built-in and custom roles
  // (GET /console/session); absent until read, and for the portal.
  areas?: Partial<Record<Area, Level>>;
}

export type Area = "certificates" | "users" | "domains" | "policies" | "events" | "systemLog" | "settings";
export type Level = "none" | "read" | "manage";

interface SessionState {
  session: Session | null;
  // ended says why the last session ended, for the login page ("expired": log in again to go
  // on where you were; "logout": start afresh).
  ended: "expired" | "logout" | null;
  start(token: string, s: Session): void;
  logout(): void;
}

const Ctx = createContext<SessionState | null>(null);

// consoleResumeKey keeps (in this tab only, never a token) the console page a session ended
// on, so that a portal user who opens the console again from the portal comes back to it.
export const consoleResumeKey = "signum.console.resume";

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(null);
  const [ended, setEnded] = useState<"expired" | "logout" | null>(null);
  const location = useLocation();
  useEffect(
    () =>
      onSessionEnd((reason) => {
        if (reason === "expired" && location.pathname.startsWith("/console/")) {
          sessionStorage.setItem(consoleResumeKey, location.pathname + location.search);
        }
        setEnded(reason);
        setSession(null);
      }),
    [location],
  );
  const state: SessionState = {
    session,
    ended,
    start(token, s) {
      setToken(token);
      setEnded(null);
      setSession(s);
      if (s.face === "console" && !s.areas) {
        // What a custom role allows is known only to the service: the pages ask the session.
        // Unread (no answer), the pages offer what the built-in roles allow.
        api
          .GET("/console/session")
          .then(({ data }) => {
            if (data?.areas) setSession((cur) => (cur && cur.deploymentId === s.deploymentId ? { ...cur, areas: data.areas } : cur));
          })
          .catch(() => undefined);
      }
    },
    logout() {
      endSession("logout");
    },
  };
  return <Ctx.Provider value={state}>{children}</Ctx.Provider>;
}

export function useSession(): SessionState {
  const s = useContext(Ctx);
  if (!s) throw new Error("useSession outside SessionProvider");
  return s;
}

// can says whether the session holds one of roles.
export function can(s: Session | null, ...roles: string[]) {
  return !!s && s.roles.some((r) => roles.includes(r));
}

const rank: Record<Level, number> = { none: 0, read: 1, manage: 2 };

// may says whether a console session's roles reach level in area: the built-in console admin
// and Signum Administrator manage every area but domains (read), the viewer reads all but the
// system log, and a custom role has what the session says. The service enforces it; pages
// use it to offer only what will be allowed.
export function may(s: Session | null, area: Area, level: Level = "read") {
  if (!s) return false;
  if (can(s, "signum-administrator")) return true;
  const builtIn: Level = can(s, "console-admin") ? (area === "domains" ? "read" : "manage") : can(s, "console-viewer") && area !== "systemLog" ? "read" : "none";
  const custom = s.areas?.[area] ?? "none";
  return Math.max(rank[builtIn], rank[custom]) >= rank[level];
}
