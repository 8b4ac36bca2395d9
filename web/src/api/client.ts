// The API client: openapi-fetch over the types openapi-typescript generates from
// docs/openapi.yaml (schema.d.ts; `npm run gen`, checked by `npm run check-gen`). No request or
// response type is written by hand.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

// The bearer token lives in memory only (never localStorage or sessionStorage): a reload or a
// new tab logs in again.
let token: string | null = null;
const listeners = new Set<(reason: "expired" | "logout") => void>();

export function setToken(t: string | null) {
  token = t;
}

export function hasToken() {
  return token !== null;
}

// onSessionEnd is told when the API answers 401 to a request that carried a token (it has
// expired, or the user was disabled), so that the app can go back to its login page.
export function onSessionEnd(f: (reason: "expired" | "logout") => void) {
  listeners.add(f);
  return () => {
    listeners.delete(f);
  };
}

export function endSession(reason: "expired" | "logout") {
  token = null;
  listeners.forEach((f) => f(reason));
}

// unavailable listeners hear about 503 answers: a dependency of the service is down.
const unavailable = new Set<(down: boolean) => void>();
export function onUnavailable(f: (down: boolean) => void) {
  unavailable.add(f);
  return () => {
    unavailable.delete(f);
  };
}

// Logins and registration carry no token: a wrong password while a session is open must not
// end it.
const anonymous = [
  "/portal/login",
  "/portal/register",
  "/console/login",
  "/marketplace/azure/resolve",
  "/marketplace/registrations/preview",
  "/marketplace/registrations",
];

const auth: Middleware = {
  onRequest({ request, schemaPath }) {
    if (token && !anonymous.includes(schemaPath)) request.headers.set("Authorization", "Bearer " + token);
    return request;
  },
  onResponse({ request, response }) {
    unavailable.forEach((f) => f(response.status === 503));
    if (response.status === 401 && request.headers.has("Authorization")) endSession("expired");
    return response;
  },
  // A request that gets no answer at all (network down, server gone) becomes a problem the
  // page can show, instead of a rejected promise that leaves it waiting.
  onError() {
    unavailable.forEach((f) => f(true));
    const problem = { type: "about:blank", title: "The service cannot be reached", status: 503, detail: "Check your connection and try again." };
    return new Response(JSON.stringify(problem), { status: 503, headers: { "Content-Type": "application/problem+json" } });
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(auth);
