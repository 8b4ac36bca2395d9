// The whole first run as a customer does it (issue #14), step by step; each step leaves the
// browser where the next one starts. The Admin registers from the deployment link, sets the
// domain name and allowlist, invites a Viewer and opens the console; there they create a
// certificate, download its CSR, import the chain a test CA issued, create two certificate
// users with client certificates, and a policy that the dry run shows allowing the first; the
// CLI signs as that user (allowed) and as the other (denied); the events page shows both and a
// verified chain. Last, the Viewer registers and sees everything but can change nothing.
import { browserContext, expectVisible } from "./harness.mjs";
import { inviteViewer, openConsole, setDomainAndAllowlist } from "./steps/portal.mjs";
import { createCertificate, createCertificateUser, downloadCSR, importChain, issueChain, makeClientCertificate, uploadClientCertificate } from "./steps/console.mjs";
import { sign, signAsCIJob } from "./steps/cli.mjs";
import { createCIDomain, createOIDCDomain, createSAMLDomain, samlMetadata, standIns } from "./steps/domains.mjs";
import { loginWithOIDC, loginWithSAML } from "./steps/sso.mjs";
import { checkSystemLog, systemLogForbidden } from "./steps/systemlog.mjs";
import { assignRole, createScopedRole } from "./steps/roles.mjs";
import { createGroup, createPasswordUser, scopedConsole } from "./steps/scoped.mjs";
import { awsSubscription, azureSubscription, registrationTroubles } from "./steps/marketplace.mjs";
import { consoleDashboard, portalDashboard, portalHealth, portalNotices } from "./steps/insights.mjs";
import { disableCertificateKey } from "./steps/kms.mjs";
import { applyRelease } from "./steps/updates.mjs";
import { configureTimestamping, requireTimestamps, signStamped } from "./steps/timestamping.mjs";
import { approveInBrowser, gatedPolicy } from "./steps/approvals.mjs";

export const admin = { email: "admin@example.com", name: "Ada Admin", password: "Correct-Horse-9-Battery" };
const viewer = { email: "viewer@example.com", name: "Vic Viewer", password: "Viewer-Horse-9-Battery" };
const scoped = { username: "rita", password: "Release-Horse-9-Battery" };

export async function journey({ j, service, browser }) {
  const page = await (await browserContext(browser)).newPage();

  await j.step("register from the deployment link", async () => {
    await page.goto(`${service.portal}/app/portal/register?token=${service.env.SIGNUM_DEMO_ADMIN_INVITE}`);
    await page.getByLabel("E-mail").fill(admin.email);
    await page.getByLabel("Name").fill(admin.name);
    await page.getByLabel("Password", { exact: true }).fill("short");
    await expectVisible(page.getByText("At least 12 characters (not met yet)"), "the password rules as one types");
    await j.check(page, "portal-register");
    await page.getByLabel("Password", { exact: true }).fill(admin.password);
    await page.getByRole("button", { name: "Register" }).click();
    await expectVisible(page.getByText("You are registered"), "the login page after registering");
  });

  await j.step("log in to the portal", async () => {
    await j.check(page, "portal-login");
    await page.getByLabel("Password", { exact: true }).fill(admin.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/app\/portal\/deployments\/dep_/);
    await j.check(page, "portal-overview");
  });

  await j.step("set the domain name and the IP allowlist", () => setDomainAndAllowlist({ j, page, service }));

  let viewerURL;
  await j.step("invite a Viewer", async () => {
    viewerURL = await inviteViewer({ j, page, service, email: viewer.email });
  });

  await j.step("open the console", () => openConsole({ j, page, service }));

  await j.step("create a certificate group (the Signum Administrator)", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Groups", exact: true }).click();
    await expectVisible(page.getByRole("heading", { name: "Create a group" }), "the group form");
    await page.getByLabel("Group name").fill("Release");
    await page.getByLabel("Certificate limit", { exact: true }).fill("ten");
    await page.getByRole("button", { name: "Create group" }).click();
    await expectVisible(page.getByText("a whole number from 0 (no limit) to 100000"), "the limit refused before sending");
    await page.getByLabel("Certificate limit", { exact: true }).fill("10");
    await page.getByRole("button", { name: "Create group" }).click();
    await expectVisible(page.getByRole("rowheader", { name: "Release" }), "the new group");
    await j.check(page, "console-groups");
  });

  let certId;
  await j.step("create a certificate, download its CSR, import the chain a test CA issued", async () => {
    certId = await createCertificate({ j, page, service, name: "Release signing", group: "Release" });
    const csr = await downloadCSR({ j, page });
    const { chainPem } = issueChain(csr);
    await importChain({ j, page, chainPem });
  });

  const agents = {};
  await j.step("create certificate users and upload their client certificates", async () => {
    for (const name of ["build-agent", "intern"]) {
      const userId = await createCertificateUser({ j, page, name });
      const cert = makeClientCertificate({ name, password: "e2e-p12" });
      await uploadClientCertificate({ j, page, userId, pem: cert.certPem });
      agents[name] = { userId, p12: cert.p12Path };
    }
  });

  const policies = await import("./steps/policies.mjs");
  await j.step("create a policy and see the dry run allow it", async () => {
    await policies.createPolicy({ j, page, name: "Build agent releases", group: "Release", userId: agents["build-agent"].userId });
    await policies.dryRun({ j, page, certificateId: certId, userId: agents["build-agent"].userId });
  });

  await j.step("sign with the CLI: the build agent is allowed, the intern is denied", async () => {
    const allowed = sign({ service, certId, p12: agents["build-agent"].p12, password: "e2e-p12" });
    if (allowed.status !== 0) throw new Error(`the build agent's signature failed (exit ${allowed.status}):\n${allowed.output}`);
    const denied = sign({ service, certId, p12: agents["intern"].p12, password: "e2e-p12", digest: true });
    if (denied.status !== 4) throw new Error(`the intern was not refused by the policy (exit ${denied.status}):\n${denied.output}`);
  });

  await j.step("see the allowed and the denied events and a verified chain", () => policies.checkEvents({ j, page }));
  await j.step("the console's dashboard charts the signatures just made, and downloads them as CSV", () =>
    consoleDashboard({ j, page, service, certificateName: "Release signing" }));

  await j.step("a GitHub Actions job signs with its OIDC token and no stored secret; its event names the job", async () => {
    // The job acts as the build agent, whom the policy lets sign with the Release certificate.
    await createCIDomain({ j, page, name: "GitHub Actions", alias: "gha", issuer: standIns(service).actionsIssuer, audience: "signum",
      rule: { name: "release", user: "build-agent", claims: { repository: "acme/app", workflow: "release" } } });
    const r = signAsCIJob({ service, certId });
    if (r.status !== 0) throw new Error(`the CI job's signature failed (exit ${r.status}):\n${r.output}`);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Signing events", exact: true }).click();
    await expectVisible(page.getByText(/CI job acme\/app/).first(), "the CI job on its event");
    await j.check(page, "console-events-ci-job");
  });

  await j.step("people log in at the company's OIDC and SAML identity providers (just in time, roles from their IdP groups)", async () => {
    const idps = standIns(service);
    await createOIDCDomain({ j, page, name: "Acme IdP", alias: "acme", issuer: idps.oidcIssuer, clientId: "signum-console", clientSecret: "local-signum-console-secret",
      defaultRole: "", mapping: { group: "release", role: "console-viewer", priority: 10 } });
    await createSAMLDomain({ j, page, name: "Acme SAML", alias: "acme-saml", metadataXml: await samlMetadata(idps.samlMetadataURL), defaultRole: "console-viewer" });
    // Each login in a browser of its own: a login page load ends the session held in memory.
    const logins = [
      (p) => loginWithOIDC({ j, page: p, service, domainName: "Acme IdP", username: "alice", password: "Alice-Local-9-Pass" }),
      // bob's IdP group maps to no role and the domain has no default role: refused.
      (p) => loginWithOIDC({ j, page: p, service, domainName: "Acme IdP", username: "bob", password: "Bob-Local-9-Pass", refused: /map to no role/ }),
      (p) => loginWithSAML({ j, page: p, service, domainName: "Acme SAML", username: "alice", password: "Alice-Local-9-Pass" }),
    ];
    for (const login of logins) {
      const ctx = await browserContext(browser);
      try {
        await login(await ctx.newPage());
      } finally {
        await ctx.close();
      }
    }
  });

  await j.step("the system log shows the logins, filtered by section, and downloads them as CSV", () => checkSystemLog({ j, page, service }));

  let nightlyId;
  await j.step("a console admin whose role is scoped to Release sees only its certificates and group", async () => {
    await createGroup({ page, name: "Nightly" });
    nightlyId = await createCertificate({ j, page, service, name: "Nightly build", group: "Nightly" });
    await createScopedRole({ j, page, name: "Release admins", group: "Release" });
    await createPasswordUser({ j, page, ...scoped });
    await assignRole({ j, page, username: scoped.username, role: "Release admins" });
    const spage = await scopedConsole({ j, page, browser, ...scoped, visible: "Release signing", hidden: "Nightly build", group: "Release", hiddenGroup: "Nightly" });
    await spage.context().close();
  });

  await j.step("a console admin sets the deployment's time-stamping authority; a policy that requires timestamps gets the file a token", async () => {
    await configureTimestamping({ j, page, service });
    await requireTimestamps({ j, page, name: "Stamped releases", group: "Release", userId: agents["build-agent"].userId });
    signStamped({ service, certId, p12: agents["build-agent"].p12, password: "e2e-p12" });
  });

  await j.step("a database outage shows a banner, and the page works again after it", async () => {
    const banner = page.getByRole("status").filter({ hasText: "trouble reaching one of its dependencies" });
    service.toggleDatabase();
    try {
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "System log", exact: true }).click();
      await expectVisible(banner, "the 503 banner");
      await j.check(page, "console-outage-banner");
    } finally {
      service.toggleDatabase();
    }
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Certificates", exact: true }).click();
    await expectVisible(page.getByRole("link", { name: "Release signing" }), "the certificates after the outage");
    if (await banner.count()) throw new Error("the banner stayed after the service answered again");
  });

  await j.step("a one-off grant lets the intern sign once; the second signature is refused naming the grant; the console shows 1 of 1 used and revokes it", async () => {
    const { oneOffGrant } = await import("./steps/grants.mjs");
    await oneOffGrant({ j, page, userId: agents["intern"].userId, certificateId: certId,
      sign: () => sign({ service, certId, p12: agents["intern"].p12, password: "e2e-p12", digest: true }) });
  });

  await j.step("a policy's grant counts its signatures: set in the policy editor, shown there as used", async () => {
    const { policyGrant } = await import("./steps/grants.mjs");
    // "Stamped releases" (priority 20, from the timestamps step) is the policy that decides the
    // build agent's requests now: its grant is the one that counts them.
    await policyGrant({ j, page, policyName: "Stamped releases", max: 1000,
      sign: () => sign({ service, certId, p12: agents["build-agent"].p12, password: "e2e-p12", text: "counted by the grant\n" }) });
  });

  await j.step("a policy requires approval: the CLI's request is held, a second console user approves it in the browser, the CLI then writes the signed file", async () => {
    const gatedId = await createCertificate({ j, page, service, name: "Gated release", group: "Release" });
    await importChain({ j, page, chainPem: issueChain(await downloadCSR({ j, page })).chainPem });
    const approver = { username: "quinn", password: "Approver-Horse-9-Battery" };
    await createPasswordUser({ page, ...approver });
    const approverId = page.url().split("/").pop();
    await gatedPolicy({ j, page, name: "Gated releases", certId: gatedId, userId: agents["build-agent"].userId, approverId });
    const text = "release 2.0, gated\n";
    const held = sign({ service, certId: gatedId, p12: agents["build-agent"].p12, password: "e2e-p12", text });
    const requestId = /evt_[a-z2-7]{26}/.exec(held.output)?.[0];
    if (held.status !== 6 || !requestId) throw new Error(`the gated request was not held (exit ${held.status}):\n${held.output}`);
    await approveInBrowser({ j, page, browser, ...approver, requestId, fileName: "hello.txt" });
    const fetched = sign({ service, certId: gatedId, p12: agents["build-agent"].p12, password: "e2e-p12", text, args: ["--request", requestId] });
    if (fetched.status !== 0) throw new Error(`the approved request's signature failed (exit ${fetched.status}):\n${fetched.output}`);
  });

  await j.step("log out: the console forgets the session", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/app\/console\/login$/);
    await page.goBack();
    await page.waitForURL(/\/app\/console\/login$/);
    if (await page.getByRole("link", { name: "Release signing" }).count()) throw new Error("the certificates are shown after logging out");
  });

  await j.step("the portal's health says what to do about an expiring certificate and a key disabled in KMS; the overview lists them; the dashboard charts the day's signatures", async () => {
    await disableCertificateKey({ service, certificateId: nightlyId });
    await page.goto(`${service.portal}/app/portal/login`);
    await page.getByLabel("E-mail").fill(admin.email);
    await page.getByLabel("Password", { exact: true }).fill(admin.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/app\/portal\/deployments\/dep_/);
    await portalNotices({ j, page, service, expiring: "Release signing" });
    await portalHealth({ j, page, service, expiring: "Release signing", disabledKey: "Nightly build" });
    await portalDashboard({ j, page, service, certificateName: "Release signing" });
  });
  await j.step("the operator publishes release 0.2.0; the Admin applies it now and watches its migration run to done", () =>
    applyRelease({ j, page, service }));

  await j.step("the Viewer registers, sees the deployment and the console, and cannot change anything", async () => {
    const vpage = await (await browserContext(browser, { width: 390, height: 844 })).newPage();
    await vpage.goto(viewerURL);
    await expectVisible(vpage.getByRole("heading", { name: "Register" }), "the registration page");
    // With the keyboard alone: on a page load the skip link comes first.
    await vpage.keyboard.press("Tab");
    if ((await vpage.evaluate(() => document.activeElement?.textContent)) !== "Skip to content") throw new Error("the first Tab does not reach the skip link");
    await vpage.getByLabel("Name").fill(viewer.name);
    await vpage.getByLabel("Password", { exact: true }).fill(viewer.password);
    if (!(await vpage.getByLabel("E-mail").inputValue())) await vpage.getByLabel("E-mail").fill(viewer.email);
    await vpage.getByRole("button", { name: "Register" }).click();
    await expectVisible(vpage.getByText("You are registered"), "the Viewer registered");
    // After the move to the login page the keyboard starts at its content; the form comes in
    // order, and Enter submits it.
    if ((await vpage.evaluate(() => document.activeElement?.id)) !== "main") throw new Error("the focus did not move to the new page's content");
    for (let i = 0; i < 10 && (await vpage.evaluate(() => document.activeElement?.getAttribute("type"))) !== "password"; i++) {
      await vpage.keyboard.press("Tab");
    }
    await vpage.keyboard.type(viewer.password);
    await vpage.keyboard.press("Enter");
    await vpage.waitForURL(/\/app\/portal\/deployments\/dep_/);
    await j.check(vpage, "viewer-portal-overview-phone");
    await vpage.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings", exact: true }).click();
    await expectVisible(vpage.getByLabel("Domain name"), "the settings, read-only");
    const save = vpage.getByRole("button", { name: "Save settings" });
    if ((await save.count()) && (await save.isEnabled())) throw new Error("the Viewer may save the settings");
    if (!(await vpage.getByLabel("Domain name").isDisabled()) && !(await vpage.getByLabel("Domain name").getAttribute("readonly"))) {
      throw new Error("the Viewer may edit the domain name");
    }
    await j.check(vpage, "viewer-portal-settings-phone");
    await openConsole({ j, page: vpage, service });
    await vpage.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Certificates", exact: true }).click();
    await expectVisible(vpage.getByRole("link", { name: "Release signing" }), "the certificate, for the Viewer");
    if (await vpage.getByRole("button", { name: "Create certificate" }).count()) throw new Error("the Viewer is offered to create a certificate");
    await j.check(vpage, "viewer-console-certificates-phone");
    await vpage.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Policies", exact: true }).click();
    await expectVisible(vpage.getByText("Build agent releases"), "the policy, for the Viewer");
    if (await vpage.getByRole("button", { name: /^(New policy|Create policy|Save)/ }).count()) throw new Error("the Viewer is offered to change policies");
    await j.check(vpage, "viewer-console-policies-phone");
    await systemLogForbidden({ j, page: vpage });
  });

  // Customers who arrive from the marketplaces, each in its own browser profile (a page load
  // ends the portal's in-memory session).
  const fresh = async (size, f) => {
    const p = await (await browserContext(browser, size)).newPage();
    try {
      await f(p);
    } finally {
      await p.context().close();
    }
  };
  await j.step("an AWS Marketplace buyer registers the deployment and its first Admin and sees the plan", () =>
    fresh(undefined, (p) => awsSubscription({ j, page: p, service })));
  await j.step("an Azure buyer with 5 seats registers; Azure suspends the subscription and the portal explains it", () =>
    fresh(undefined, (p) => azureSubscription({ j, page: p, service })));
  await j.step("the registration page says what to do with a refused, missing, unknown or spent ticket", () =>
    fresh({ width: 390, height: 844 }, (p) => registrationTroubles({ j, page: p, service })));
}
