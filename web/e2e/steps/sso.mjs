// Journey steps for logging in to the console at an OIDC or a SAML domain's identity provider
// (issue #15, items 3 and 6), against the local server's stand-ins: a person clicks "Log in
// with <domain>" on the console's login page, signs in on the identity provider's own form,
// and comes back to the console logged in as <IdP user name>@<alias>.
//
//   loginWithOIDC  expects: an OIDC domain named domainName on the deployment (for example
//                  made by steps/domains.mjs createOIDCDomain) whose issuer is the local
//                  server's OIDC stand-in, with client id "signum-console" and client secret
//                  "local-signum-console-secret" (lib/local: IdPClientID, IdPClientSecret; the
//                  stand-in's clients accept the demo deployment's callback on the API port),
//                  just-in-time provisioning on and a mapping of one of the person's groups to
//                  a role (the stand-in's people: alice, groups signum-admins and release;
//                  bob, group viewers; passwords in lib/local DemoPeople). page may be any
//                  page: the step loads the console's login page on service.console, so a
//                  console session held in the page's memory is gone. Leaves: the console,
//                  logged in as <username>@<alias>, on its first page.
//   loginWithSAML  the same for a SAML domain made from the SAML stand-in's metadata (the
//                  stand-in learns the domain from its metadata URL at the first login). When
//                  the browser context already signed in at the stand-in, its form is skipped,
//                  as a real IdP's session would.
//
// Both take refused (a string or RegExp): then the login is expected to be refused (for
// example bob, whose group maps to no role), and the step leaves the console's login page
// showing the refusal. They check each page worth a look (j.check): the login page with its
// buttons, the identity provider's form, and the console after the login (or the refusal).
//
// The stand-ins' addresses come from the service object when it carries them
// (service.oidcIssuer, service.samlMetadataURL), else from the local server's banner
// (steps/domains.mjs standIns).
import { expectVisible } from "../harness.mjs";
import { standIns } from "./domains.mjs";

function standIn(service, key) {
  return service[key] ?? standIns(service)[key];
}

// openLogin loads the console's login page and finds the domain's button.
async function openLogin({ j, page, service, domainName, shot }) {
  await page.goto(`${service.console}/app/console/login`);
  const button = page.getByRole("link", { name: new RegExp(`^Log in with ${domainName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`) });
  await expectVisible(button, `the login button of ${domainName}`);
  if (shot) await j.check(page, "console-login-identity-providers");
  return button;
}

// back waits for the console after the identity provider: logged in as username@..., or, with
// refused, the login page showing the refusal.
async function back({ j, page, service, username, refused, name }) {
  if (refused) {
    await page.waitForURL((u) => u.origin === service.console && u.pathname === "/app/console/login", { timeout: 15000 });
    await expectVisible(page.getByRole("alert").filter({ hasText: refused }), `the refusal ${refused}`);
    if (page.url().includes("#")) throw new Error("the refusal stayed in the address");
    await j.check(page, `console-login-${name}-refused`);
    return;
  }
  await page.waitForURL((u) => u.origin === service.console && u.pathname.startsWith("/app/console/") && u.pathname !== "/app/console/login", {
    timeout: 15000,
  });
  if (page.url().includes("token=")) throw new Error("the console token stayed in the address");
  await expectVisible(page.getByRole("button", { name: "Log out" }), "the console, logged in");
  await expectVisible(page.getByText(new RegExp(`^${username}@[a-z0-9-]+$`)), `the console user ${username}@<alias> in the header`);
  await j.check(page, `console-after-${name}-login`);
}

export async function loginWithOIDC({ j, page, service, domainName, username, password, refused }) {
  const issuer = new URL(standIn(service, "oidcIssuer"));
  const button = await openLogin({ j, page, service, domainName, shot: true });
  await button.click();
  await page.waitForURL((u) => u.origin === issuer.origin, { timeout: 15000 });
  await expectVisible(page.getByLabel("Username"), "the OIDC identity provider's login form");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await j.check(page, "oidc-idp-login");
  await page.getByRole("button", { name: "Sign in" }).click();
  await back({ j, page, service, username, refused, name: "oidc" });
}

export async function loginWithSAML({ j, page, service, domainName, username, password, refused }) {
  const idp = new URL(standIn(service, "samlMetadataURL"));
  const button = await openLogin({ j, page, service, domainName, shot: true });
  await button.click();
  // The stand-in's form, or straight back when this browser is signed in there already.
  await page.waitForURL((u) => u.origin === idp.origin || u.origin === service.console, { timeout: 15000 });
  if (new URL(page.url()).origin === idp.origin) {
    const form = page.getByLabel("User name");
    await expectVisible(form, "the SAML identity provider's login form");
    await form.fill(username);
    await page.getByLabel("Password").fill(password);
    await j.check(page, "saml-idp-login");
    await page.getByRole("button", { name: "Sign in" }).click();
  }
  // The stand-in's response page posts itself to the console (its script); without script,
  // its Continue button would.
  await back({ j, page, service, username, refused, name: "saml" });
}
