import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, Route, Routes } from "react-router-dom";
import { SessionProvider } from "./session";
import { NotFound } from "./ui/Shell";
import { portalRoutes } from "./portal/routes";
import { consoleRoutes } from "./console/routes";
import { marketplaceRoutes } from "./marketplace/routes";
import "./styles.css";

// One app, two faces: the portal (/app/portal/..., on the API's host) and the console
// (/app/console/..., on each deployment's host). Both talk to the API on the page's own host.
function App() {
  return (
    <BrowserRouter basename="/app">
      <SessionProvider>
        <Routes>
          <Route path="/" element={<Navigate to="/portal/login" replace />} />
          {portalRoutes}
          {consoleRoutes}
          {marketplaceRoutes}
          <Route path="*" element={<NotFound />} />
        </Routes>
      </SessionProvider>
    </BrowserRouter>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
