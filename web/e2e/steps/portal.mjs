// Portal steps of the journey (issue #14): the deployment's settings, inviting a portal user
// and opening the console from the portal. Each function takes ({ j, page, service }) and
// drives the pages as a customer does, checking each page state worth a look with j.check.
//
// setDomainAndAllowlist expects: page logged in to the portal as the deployment's Admin (any
//   portal page of the demo deployment). It sets the domain name to SIGNUM_DEMO_DOMAIN (unless
//   already set), first shows the browser's refusal of a malformed allowlist line, then saves
//   an allowlist that still admits the local browser. The local gateway takes the source address
//   from the TCP peer (lib/apigw: RemoteAddr, no X-Forwarded-For), and the harness's service
//   listens on 127.0.0.1, so 127.0.0.1/32 keeps the browser in; ::1/128 is there for a browser
//   that reaches localhost over IPv6. Leaves: the overview page, showing the new settings.
// inviteViewer expects: logged in as the Admin. It creates a Viewer invitation for `email`
//   (viewer@example.com by default) on the Portal users page and returns the registration URL
//   shown once. Leaves: the Portal users page with the link on it.
// openConsole expects: logged in as a portal user, the deployment with a domain name and an
//   allowlist admitting the browser. It clicks "Open the console" on the overview and waits for
//   the console on the deployment's own host. Leaves: the console, logged in with the portal
//   identity (a console token in memory), on its first page.
import { expectVisible } from "../harness.mjs";

async function goTo(page, link) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link, exact: true }).click();
}

export async function setDomainAndAllowlist({ j, page, service }) {
  await goTo(page, "Settings");
  const domain = page.getByLabel("Domain name");
  await expectVisible(domain, "the settings form");
  await j.check(page, "portal-settings");
  if ((await domain.inputValue()) !== service.env.SIGNUM_DEMO_DOMAIN) await domain.fill(service.env.SIGNUM_DEMO_DOMAIN);

  const allowlist = page.getByLabel("IP allowlist");
  await allowlist.fill("127.0.0.1/32\n::1/128\n203.0.113.300/24");
  await page.getByRole("button", { name: "Save settings" }).click();
  await expectVisible(page.getByText(/Line 3 \(203\.0\.113\.300\/24\): an IPv4 number is over 255/), "the allowlist line the browser refuses");
  await j.check(page, "portal-settings-allowlist-error");

  await allowlist.fill("127.0.0.1/32\n::1/128\n203.0.113.7/24");
  await page.getByRole("button", { name: "Save settings" }).click();
  await expectVisible(page.getByRole("status").filter({ hasText: "Saved." }), "the settings saved");
  // The service stores the canonical form: host bits masked off.
  if ((await allowlist.inputValue()) !== "127.0.0.1/32\n::1/128\n203.0.113.0/24") {
    throw new Error(`allowlist not stored as expected: ${JSON.stringify(await allowlist.inputValue())}`);
  }
  await j.check(page, "portal-settings-saved");

  await goTo(page, "Overview");
  await expectVisible(page.getByText(`${service.env.SIGNUM_DEMO_DOMAIN}`, { exact: true }), "the domain name on the overview");
  await expectVisible(page.getByText("203.0.113.0/24", { exact: true }), "the allowlist on the overview");
  await j.check(page, "portal-overview");
}

export async function inviteViewer({ j, page, service, email = "viewer@example.com" }) {
  await goTo(page, "Portal users");
  await expectVisible(page.getByRole("table"), "the portal users");
  await j.check(page, "portal-users");
  await page.getByLabel("E-mail (optional)").fill(email);
  await page.getByLabel("Role", { exact: true }).selectOption("Viewer");
  await page.getByRole("button", { name: "Create the invitation link" }).click();
  const link = page.getByLabel("Registration link");
  await expectVisible(link, "the invitation link");
  const url = await link.inputValue();
  if (!url.startsWith(`${service.portal}/app/portal/register?token=inv_`)) throw new Error(`unexpected invitation URL ${url}`);
  await j.check(page, "portal-users-invited");
  return url;
}

export async function openConsole({ j, page, service }) {
  await goTo(page, "Overview");
  await page.getByRole("button", { name: "Open the console" }).click();
  await page.waitForURL((u) => u.origin === service.console && u.pathname.startsWith("/app/console/") && !u.pathname.endsWith("/login"), {
    timeout: 15000,
  });
  if (page.url().includes("token=")) throw new Error("the console token stayed in the address");
  await expectVisible(page.getByRole("button", { name: "Log out" }), "the console, logged in");
  await j.check(page, "console-opened-from-portal");
}
