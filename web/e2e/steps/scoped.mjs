// Journey steps for a console admin whose custom role is scoped to one certificate group
// (issue #15 item 2 and item 6): the Signum Administrator makes a second group with a
// certificate of its own and a password user; after the roles steps give that user a role
// scoped to the first group, the user logs in on the console and finds only that group's
// certificates, as if the other group's did not exist.
//
//   createGroup         expects the Signum Administrator's console on any page; creates the
//                       certificate group name and leaves the groups page listing it
//   createPasswordUser  the same; creates a password console user username with the signer
//                       role and leaves the user's page
//   scopedConsole       expects nothing of page (it opens its own browser context on the
//                       console's origin, taken from page); logs in as username and checks
//                       that the Certificates and Groups pages show visible and not hidden;
//                       returns the new page, left on the certificates page
import { browserContext, expectVisible } from "../harness.mjs";

async function openNav(page, label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
  await expectVisible(page.getByRole("heading", { level: 1 }), `the ${label} page`);
}

export async function createGroup({ page, name }) {
  await openNav(page, "Groups");
  await page.getByLabel("Group name").fill(name);
  await page.getByRole("button", { name: "Create group" }).click();
  await expectVisible(page.getByRole("rowheader", { name }), `the group ${name}`);
}

export async function createPasswordUser({ j, page, username, password }) {
  await openNav(page, "Users");
  await page.waitForURL(/\/app\/console\/users$/);
  await page.getByRole("radio", { name: /Password user/ }).check();
  await page.getByLabel("User name").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  const signer = page.getByRole("checkbox", { name: /^signer/ });
  if (!(await signer.isChecked())) await signer.check();
  await page.getByRole("button", { name: "Create user" }).click();
  await page.waitForURL(/\/app\/console\/users\/cu_[a-z2-7]{26}$/);
  if (j) await j.check(page, "console-password-user");
}

export async function scopedConsole({ j, page, browser, username, password, visible, hidden, group, hiddenGroup }) {
  const origin = new URL(page.url()).origin;
  const spage = await (await browserContext(browser)).newPage();
  await spage.goto(`${origin}/app/console/login`);
  await spage.getByLabel("User name").fill(username);
  await spage.getByLabel("Password", { exact: true }).fill(password);
  await spage.getByRole("button", { name: "Log in" }).click();
  await spage.waitForURL(/\/app\/console\/(?!login)/);
  await openNav(spage, "Certificates");
  await expectVisible(spage.getByRole("link", { name: visible }), `the certificate ${visible} of the role's group`);
  if (await spage.getByRole("link", { name: hidden }).count()) throw new Error(`the scoped admin sees ${hidden}, of another group`);
  await expectVisible(spage.getByRole("heading", { name: "Create a certificate" }), "the create form (the role manages certificates)");
  const choices = spage.getByRole("group", { name: "Groups" }).getByRole("checkbox");
  const labels = await choices.allInnerTexts().catch(() => []);
  if ((await spage.getByRole("group", { name: "Groups" }).getByRole("checkbox", { name: hiddenGroup, exact: true }).count()) > 0) {
    throw new Error(`the scoped admin may pick the group ${hiddenGroup}: ${labels}`);
  }
  await j.check(spage, "scoped-console-certificates");
  await openNav(spage, "Groups");
  await expectVisible(spage.getByRole("rowheader", { name: group, exact: true }), `the group ${group}`);
  if (await spage.getByRole("rowheader", { name: hiddenGroup, exact: true }).count()) throw new Error(`the scoped admin sees the group ${hiddenGroup}`);
  await j.check(spage, "scoped-console-groups");
  await openNav(spage, "Certificates");
  return spage;
}
