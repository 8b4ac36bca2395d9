// The whole first run as a customer does it (issue #14), step by step. Each step leaves the
// browser where the next one starts.
import { expectVisible } from "./harness.mjs";

export const admin = { email: "admin@example.com", name: "Ada Admin", password: "Correct-Horse-9-Battery" };

export async function journey({ j, service, browser }) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();

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
  });
}
