// The signed-in user, in memory: which face (portal or console), the deployment, the roles and
// when the token expires. Logging out, or a token the API no longer takes, clears it and goes
// back to that face's login page, remembering where the user was.
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { endSession, onSessionEnd, setToken } from "./api/client";

export type Face = "portal" | "console";

export interface Session {
  face: Face;
  deploymentId: string;
  roles: string[];
  expiresAt: string;
  // name is what the header shows (the e-mail or user name).
  name: string;
}

interface SessionState {
  session: Session | null;
  start(token: string, s: Session): void;
  logout(): void;
}

const Ctx = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(null);
  const navigate = useNavigate();
  const location = useLocation();
  useEffect(
    () =>
      onSessionEnd((reason) => {
        setSession((s) => {
          const face = s?.face ?? (location.pathname.startsWith("/console") ? "console" : "portal");
          navigate(`/${face}/login`, { state: { next: location.pathname + location.search, reason } });
          return null;
        });
      }),
    [navigate, location],
  );
  const state: SessionState = {
    session,
    start(token, s) {
      setToken(token);
      setSession(s);
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
