// Journey steps for the console's roles page and the custom role of a console user (issue #15
// item 2).
//
// Both steps expect the browser to be logged in to the console on the deployment's host as the
// Signum Administrator (only it creates roles and gives them), on any console page; like the
// other console steps they move through the app's own navigation and never reload the page
// (the token lives in the page's memory only).
//
//   createScopedRole  expects the certificate group named group to exist; creates a custom role
//                     named name with Certificates at manage (which includes read), every other
//                     area at none, and View, Add, Remove and Assign to policies on that one
//                     group; leaves the roles page with the role listed, and returns its id
//   assignRole        expects a console user named username and a custom role named role; gives
//                     the user that role on its page and leaves that page showing it
import { expectVisible } from "../harness.mjs";

// openNav follows a link of the console's main navigation.
async function openNav(page, label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
  await expectVisible(page.getByRole("heading", { level: 1 }), `the ${label} page`);
}

export async function createScopedRole({ j, page, name, group }) {
  await openNav(page, "Roles");
  await page.waitForURL(/\/app\/console\/roles$/);
  await expectVisible(page.getByRole("heading", { name: "Create a role" }), "the create-role form");
  await expectVisible(page.getByRole("rowheader", { name: /Signum Administrator/ }), "the built-in roles");
  await j.check(page, "console-roles");
  await page.getByLabel("Role name").fill(name);
  await page.getByLabel("Description").fill(`Manages the certificates of ${group}`);
  await page.getByLabel("Level for Certificates").selectOption("manage");
  for (const right of ["View", "Add", "Remove", "Assign to policies"]) {
    await page.getByRole("checkbox", { name: `${right} for ${group}`, exact: true }).check();
  }
  await j.check(page, "console-role-form");
  await page.getByRole("button", { name: "Create role" }).click();
  await expectVisible(page.getByText(`Role “${name}” was created.`), "the created notice");
  const row = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: new RegExp(`^${escape(name)}`) }) });
  await expectVisible(row.getByText(`${group}: view, add, remove, assign to policies`), "the role's rights on the group");
  await expectVisible(row.getByText("certificates manage"), "the role's certificates level");
  await j.check(page, "console-role-created");
  const id = (await row.locator(".mono").first().textContent())?.trim();
  if (!id?.startsWith("role_")) throw new Error(`no id for the role ${name}: ${id}`);
  return id;
}

export async function assignRole({ j, page, username, role }) {
  await openNav(page, "Users");
  await page.waitForURL(/\/app\/console\/users$/);
  await page.getByRole("link", { name: username, exact: true }).click();
  await page.waitForURL(/\/app\/console\/users\/cu_[a-z2-7]{26}$/);
  await expectVisible(page.getByRole("heading", { name: "Custom role" }), "the custom role form");
  await page.getByLabel("Custom role of this user").selectOption({ label: role });
  await page.getByRole("button", { name: "Save custom role" }).click();
  await expectVisible(page.getByText(`Custom role “${role}” given.`), "the given notice");
  await expectVisible(page.locator("dl.facts dd", { hasText: role }), "the user's custom role");
  await j.check(page, "console-user-custom-role");
}

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
