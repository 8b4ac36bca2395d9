// Marketplace steps (issue #16): a buyer subscribes in AWS Marketplace or Azure Marketplace
// (played by the local server's simulator under /_local/marketplace/), registers the
// subscription's deployment on the registration page, registers as its first Admin with the
// link shown once, and sees the plan and the subscription on the portal's deployment page.
// Each function takes ({ j, page, service }) and drives the pages as a buyer does, checking
// each page state worth a look with j.check.
//
// awsSubscription expects: any page (no session needed; the portal session of the page, if
//   any, is replaced, as the portal keeps it in memory and page loads end it). It buys the
//   standard plan at the AWS stand-in, follows "Set up your account" (the fulfilment URL's 303
//   to the registration page with #ticket=…), checks the preview and that the ticket left the
//   address, registers a deployment with a fresh domain name (aws-<random>.localhost) and a
//   fresh first Admin, follows the first-Admin link, registers and logs in. Leaves: the portal
//   logged in as that Admin, on the new deployment's overview, whose panel shows Standard and
//   Active. Returns { deploymentId, email, password, domainName }.
// azureSubscription expects: the same. It buys the enterprise plan with 5 seats at the Azure
//   stand-in, opens its landing page (token exchanged, registration page), registers as above
//   (the first Admin's e-mail defaults to the purchaser's), logs in and sees 5 seats and
//   Active; then Azure suspends the subscription (webhook), and after a reload and a new login
//   the panel explains the suspension; last, a landing page with a token Azure does not accept
//   shows why and what to do. Leaves: the Azure landing page with that error (the portal
//   session is gone: it ended with the page load). Returns { deploymentId, subscriptionId,
//   email, password, domainName }.
import { expectVisible } from "../harness.mjs";

const password = "Correct-Horse-9-Battery";

function random() {
  return Math.random().toString(36).slice(2, 10);
}

// registerDeployment is on the registration page with its preview shown: it fills the form,
// registers, and returns the first Admin's link (the page's path).
async function registerDeployment({ j, page, name, domainName, email, prefix }) {
  await page.getByLabel("Deployment name").fill(name);
  await page.getByLabel("Domain name (optional)").fill(domainName);
  if (email !== undefined) await page.getByLabel("First Admin's e-mail").fill(email);
  await page.getByRole("button", { name: "Register the deployment" }).click();
  const link = page.getByRole("link", { name: "Register as the first Admin" });
  await expectVisible(link, "the first Admin's link after registering");
  await expectVisible(page.getByText(/works once and expires at/), "when the first Admin's link expires");
  await j.check(page, `${prefix}-registered`);
  return link;
}

// firstAdmin follows the first-Admin link, registers with the given address and logs in.
async function firstAdmin({ j, page, link, email, prefix }) {
  await link.click();
  await page.waitForURL(/\/app\/portal\/register$/);
  if ((await page.getByLabel("E-mail").inputValue()) !== email) throw new Error("the registration page did not fill in the first Admin's address");
  await page.getByLabel("Name").fill("First Admin");
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Register" }).click();
  await expectVisible(page.getByText("You are registered"), "the login page after registering");
  await login({ page, password });
  await expectVisible(page.getByRole("heading", { name: "Plan and subscription" }), "the subscription panel");
  await j.check(page, `${prefix}-portal-overview`);
  return page.url().match(/\/deployments\/(dep_[^/?#]+)/)?.[1];
}

// login is on the portal's login page (the address filled in or given).
async function login({ page, email, password }) {
  if (email) await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/app\/portal\/deployments\/dep_/);
}

// panel is the subscription panel's region of the overview.
function panel(page) {
  return page.getByRole("region", { name: "Plan and subscription" });
}

// fact finds a fact's value in the panel (a <dd> after its <dt>).
function fact(page, term) {
  return panel(page).locator(`dt:text-is("${term}") + dd`);
}

async function expectFact(page, term, text) {
  await expectVisible(fact(page, term).filter({ hasText: text }), `${term}: ${text} on the subscription panel`);
}

export async function awsSubscription({ j, page, service }) {
  const id = random();
  const domainName = `aws-${id}.localhost`;
  const email = `aws-admin-${id}@example.com`;

  await page.goto(`${service.portal}/_local/marketplace/aws/buy?plan=standard`);
  await page.getByRole("button", { name: "Set up your account" }).click();
  await page.waitForURL(/\/app\/marketplace\/register/);
  await expectVisible(page.getByRole("heading", { name: "Your subscription" }), "the registration preview");
  if (page.url().includes("ticket=")) throw new Error("the registration ticket stayed in the address");
  const facts = page.locator("dl.facts");
  await expectVisible(facts.getByText("AWS Marketplace", { exact: true }), "the marketplace in the preview");
  await expectVisible(facts.locator('dt:text-is("Plan") + dd').filter({ hasText: "Standard" }), "the plan in the preview");
  await expectVisible(facts.getByText("us-east-1", { exact: true }), "the region in the preview");
  await expectVisible(facts.getByText("Pending", { exact: true }), "the pending state in the preview");
  await expectVisible(facts.locator('dt:text-is("AWS account") + dd'), "the buyer's AWS account in the preview");
  await expectVisible(facts.locator('dt:text-is("Certificates") + dd').filter({ hasText: "50" }), "the certificate limit in the preview");
  await j.check(page, "marketplace-aws-preview");

  // The browser's own check of the required address comes first; then the service's.
  await page.getByLabel("First Admin's e-mail").fill("");
  await page.getByRole("button", { name: "Register the deployment" }).click();
  if (!(await page.getByLabel("First Admin's e-mail").evaluate((el) => el.matches(":invalid")))) throw new Error("an empty first Admin's e-mail was accepted");
  await page.getByLabel("Domain name (optional)").fill("Not a host name!");
  await page.getByLabel("First Admin's e-mail").fill(email);
  await page.getByRole("button", { name: "Register the deployment" }).click();
  await expectVisible(page.locator(".field-error"), "the service's reason beside the domain name");
  await j.check(page, "marketplace-aws-field-error");

  const link = await registerDeployment({ j, page, name: `AWS buyer ${id}`, domainName, email, prefix: "marketplace-aws" });
  const deploymentId = await firstAdmin({ j, page, link, email, prefix: "marketplace-aws" });
  await expectFact(page, "Plan", "Standard");
  await expectFact(page, "Subscription state", "Active");
  await expectFact(page, "Marketplace", "AWS Marketplace");
  await expectVisible(panel(page).getByRole("meter", { name: "Certificates" }), "the certificates meter");
  return { deploymentId, email, password, domainName };
}

export async function azureSubscription({ j, page, service }) {
  const id = random();
  const domainName = `azure-${id}.localhost`;
  const email = `azure-buyer-${id}@example.com`;

  const res = await fetch(`${service.portal}/_local/marketplace/azure/buy?plan=enterprise&quantity=5&format=json&email=${encodeURIComponent(email)}`);
  if (!res.ok) throw new Error(`the Azure stand-in refused the purchase: ${res.status} ${await res.text()}`);
  const { subscriptionId, landingUrl } = await res.json();

  await page.goto(new URL(landingUrl, service.portal).href);
  await page.waitForURL(/\/app\/marketplace\/register/);
  await expectVisible(page.getByRole("heading", { name: "Your subscription" }), "the registration preview");
  if (page.url().includes("ticket=") || page.url().includes("token=")) throw new Error("the landing token or the ticket stayed in the address");
  const facts = page.locator("dl.facts");
  await expectVisible(facts.getByText("Azure Marketplace", { exact: true }), "the marketplace in the preview");
  await expectVisible(facts.locator('dt:text-is("Plan") + dd').filter({ hasText: "Enterprise" }), "the plan in the preview");
  await expectVisible(facts.locator('dt:text-is("Seats") + dd').filter({ hasText: "5" }), "the seats in the preview");
  await expectVisible(facts.getByText(email, { exact: true }), "the purchaser's e-mail in the preview");
  if ((await page.getByLabel("First Admin's e-mail").inputValue()) !== email) throw new Error("the first Admin's e-mail is not the purchaser's");
  if (!(await page.getByLabel("Deployment name").inputValue())) throw new Error("the deployment name is not the subscription's");
  await j.check(page, "marketplace-azure-preview");

  const link = await registerDeployment({ j, page, name: `Azure buyer ${id}`, domainName, prefix: "marketplace-azure" });
  const deploymentId = await firstAdmin({ j, page, link, email, prefix: "marketplace-azure" });
  await expectFact(page, "Plan", "Enterprise");
  await expectFact(page, "Seats", "5");
  await expectFact(page, "Subscription state", "Active");
  await expectFact(page, "Console users", "of 5");

  // Azure suspends the subscription (a payment failed): its webhook reaches the service.
  const op = await fetch(`${service.portal}/_local/marketplace/azure/operations`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ subscriptionId, action: "Suspend" }),
  });
  const answer = await op.json().catch(() => ({}));
  if (!op.ok || answer.webhookStatus !== 200) throw new Error(`the suspension was not delivered: ${op.status} ${JSON.stringify(answer)}`);
  // A reload ends the portal session (it lives in memory): log in again, as the portal still
  // lets a suspended deployment's users in, read-only.
  await page.reload();
  await page.waitForURL(/\/app\/portal\/login$/);
  await login({ page, email, password });
  await expectVisible(panel(page).getByRole("status").filter({ hasText: "The subscription is suspended." }), "the suspension explained");
  await expectVisible(panel(page).getByText(/Signing is refused and the console is read-only/).first(), "what the suspension means");
  await expectFact(page, "Subscription state", "Suspended");
  await j.check(page, "marketplace-azure-suspended");

  // A landing page token Azure does not accept (expired, or not one of its own).
  await page.goto(`${service.portal}/app/marketplace/azure?token=bogus`);
  await expectVisible(page.getByRole("alert"), "the refused landing token");
  await expectVisible(page.getByText(/Configure account now/).first(), "what to do about a refused landing token");
  await j.check(page, "marketplace-azure-bad-token");
  return { deploymentId, subscriptionId, email, password, domainName };
}

// registrationTroubles expects: any page. It opens the registration page as the fulfilment
// URL does when AWS refused the token (#error=…), with no ticket, with a ticket the service
// does not know, and with the ticket of a subscription registered already (made through the
// API as a script would: AWS stand-in, JSON fulfilment URL, registration). Leaves: the
// registration page saying the subscription is registered already.
export async function registrationTroubles({ j, page, service }) {
  const refused = "The marketplace did not accept the registration token: it has expired or was already replaced.";
  await page.goto(`${service.portal}/app/marketplace/register#error=${encodeURIComponent(refused)}`);
  await expectVisible(page.getByRole("alert").filter({ hasText: refused }), "the fulfilment URL's refusal");
  await expectVisible(page.getByText(/Start again from the marketplace: open the product in AWS Marketplace/), "what to do after a refusal");
  if (page.url().includes("#")) throw new Error("the fragment stayed in the address");
  await j.check(page, "marketplace-register-refused");

  await page.goto(`${service.portal}/app/marketplace/register`);
  await expectVisible(page.getByText(/needs the registration ticket/), "the page without a ticket");
  await j.check(page, "marketplace-register-no-ticket");

  await page.goto(`${service.portal}/app/marketplace/register#ticket=mkt_unknown`);
  await expectVisible(page.getByRole("alert"), "an unknown ticket refused");
  await expectVisible(page.getByText(/Start again from the marketplace/), "what to do about an unknown ticket");
  await j.check(page, "marketplace-register-unknown-ticket");

  const bought = await (await fetch(`${service.portal}/_local/marketplace/aws/subscribe`, { method: "POST", body: JSON.stringify({ plan: "standard" }) })).json();
  const resolved = await fetch(`${service.portal}/marketplace/aws/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ "x-amzn-marketplace-token": bought.token }),
  });
  if (resolved.status !== 201) throw new Error(`the fulfilment URL answered ${resolved.status}: ${await resolved.text()}`);
  const { ticket } = await resolved.json();
  const registered = await fetch(`${service.portal}/marketplace/registrations`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ticket, adminEmail: `script-${random()}@example.com` }),
  });
  if (registered.status !== 201) throw new Error(`the registration answered ${registered.status}: ${await registered.text()}`);
  await page.goto(`${service.portal}/app/marketplace/register#ticket=${encodeURIComponent(ticket)}`);
  await expectVisible(page.getByText("This subscription is registered already"), "a ticket of a registered subscription");
  if (await page.getByRole("button", { name: "Register the deployment" }).count()) throw new Error("a registered subscription is offered to register again");
  await j.check(page, "marketplace-register-registered-already");
}
