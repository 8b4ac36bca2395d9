import { Route } from "react-router-dom";
import { Shell } from "../ui/Shell";
import { AzureLanding } from "./AzureLanding";
import { MarketplaceRegister } from "./Register";

// The pages a marketplace sends its buyers to, on the portal's host and without a session:
// AWS's fulfilment URL answers with a redirect to /marketplace/register#ticket=…, and Azure's
// landing page is /marketplace/azure?token=….
export const marketplaceRoutes = (
  <>
    <Route path="/marketplace/register" element={<Shell face="portal" nav={[]}><MarketplaceRegister /></Shell>} />
    <Route path="/marketplace/azure" element={<Shell face="portal" nav={[]}><AzureLanding /></Shell>} />
  </>
);
