// Journey steps for the deployment's health, its notices and the dashboards (issue #17 items
// 1, 2, 4 and 5): the portal's Health page, "Needs attention" on the portal's overview, and the
// portal's and the console's Dashboard with their charts, tables and CSV download. Each
// function takes ({ j, page, service, ... }), moves through the app's own navigation (a
// page.goto would reload the app and end the session, which lives in the page's memory) and
// checks each page state worth a look with j.check.
//
// portalHealth({ j, page, service, expiring, disabledKey })
//   expects: the portal logged in as a portal Admin (or Viewer) of the deployment, on any portal
//   page; an active certificate named `expiring` that expires within 30 days (the journey's
//   test CA issues chains for 30 days, so "Release signing" is one), and a certificate named
//   `disabledKey` whose KMS key the lead has disabled (e.g. with the KMS stand-in's
//   DisableKey) before the step. Opens Health, checks the overall banner, that the expiring
//   certificate's part says when it expires with what to do, and that the disabled key's part
//   says it is disabled with what to do (in the console, named, as the portal cannot link
//   there); clicks "Check again" and sees the report read again. Leaves: the Health page.
// portalNotices({ j, page, service, expiring })
//   expects: the same. Opens the Overview and checks "Needs attention" lists a notice naming
//   the certificate `expiring` (give expiring: undefined to accept any notice or "Nothing needs
//   attention"). Leaves: the Overview.
// portalDashboard({ j, page, service, certificateName })
//   expects: the portal logged in as a portal Admin or Viewer, on any portal page; at least
//   one signature made today with the certificate named certificateName (the journey's CLI
//   signature with "Release signing"). Opens Dashboard, checks the signatures chart (a canvas
//   in a labelled container), its table ("Show as table") with a column for the certificate
//   whose total is at least 1, the licence meters; switches to 7 days (the range lands in the
//   address) and downloads the CSV, checking its file name, header line and a row for the
//   certificate. Leaves: the Dashboard, 7 days shown.
// consoleDashboard({ j, page, service, certificateName, scoped = false })
//   expects: the console logged in (console-admin, console-viewer or the Signum Administrator;
//   scoped: a custom role scoped to certificate groups that includes the certificate and reads
//   Signing events, since the route is guarded by that area and the navigation offers the
//   Dashboard only then; the journey's "Release admins" role has events at none, so it sees no
//   Dashboard), on any console page; the same signature. Same checks as portalDashboard; unscoped it also sees the
//   licence and the top users, scoped it sees the note that these are not shown. Leaves: the
//   console's Dashboard, 7 days shown.
import { readFileSync } from "node:fs";
import { expectVisible } from "../harness.mjs";

// csvHeader is the dashboard CSV's header line (docs/openapi.yaml, DashboardFormat).
export const csvHeader = "date,certificateId,certificateName,signed,failed,denied";

// openNav follows a link of the main navigation and waits for the page (heading: its h1,
// the link's label unless given; the overview's is the deployment's name).
async function openNav(page, label, url, heading = label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
  await page.waitForURL(url);
  await expectVisible(heading ? page.getByRole("heading", { level: 1, name: heading }) : page.getByRole("heading", { level: 1 }), `the ${label} page`);
}

// part is the health page's list item whose text matches re.
function part(page, re) {
  return page.getByRole("listitem").filter({ hasText: re });
}

export async function portalHealth({ j, page, expiring, disabledKey }) {
  await openNav(page, "Health", /\/app\/portal\/deployments\/dep_[a-z2-7]{26}\/health$/);
  const banner = page.getByRole("status").filter({ hasText: /^Overall: / });
  await expectVisible(banner, "the overall status banner");
  // A status is words, not a colour alone.
  await expectVisible(banner.getByText(/Overall: (OK|Act soon|Needs action now|Unknown)\./), "the overall status in words");

  if (expiring) {
    const item = part(page, new RegExp(`certificate "${escape(expiring)}" (expires|expired) on \\d{4}-\\d{2}-\\d{2}`));
    await expectVisible(item, `the expiring certificate ${expiring}`);
    await expectVisible(item.getByText(/^(Act soon|Needs action now)$/), "the expiring certificate's status in words");
    await expectVisible(item.getByText("What to do:"), "what to do about the expiring certificate");
  }
  if (disabledKey) {
    const item = part(page, new RegExp(`key of the certificate "${escape(disabledKey)}" is disabled`));
    await expectVisible(item, `the disabled key of ${disabledKey}`);
    await expectVisible(item.getByText(/^(Act soon|Needs action now)$/), "the disabled key's status in words");
    await expectVisible(item.getByText("What to do:"), "what to do about the disabled key");
    await expectVisible(item.getByText(/In the console/), "where it is done");
  }
  await j.check(page, "portal-health");

  const checked = await banner.getByText(/^Checked at /).textContent();
  await page.getByRole("button", { name: "Check again" }).click();
  await expectVisible(page.getByRole("button", { name: "Check again" }), "the check done");
  await expectVisible(banner, "the banner after checking again");
  if (!(await banner.getByText(/^Checked at /).textContent())) throw new Error(`no check time after checking again (was ${checked})`);
}

export async function portalNotices({ j, page, expiring }) {
  await openNav(page, "Overview", /\/app\/portal\/deployments\/dep_[a-z2-7]{26}$/, null);
  const section = page.getByRole("region", { name: "Needs attention" });
  await expectVisible(section, "the Needs attention section");
  if (expiring) {
    await expectVisible(section.getByRole("listitem").filter({ hasText: expiring }), `a notice about ${expiring}`);
  } else {
    await expectVisible(section.getByText(/Nothing needs attention|Warning|Critical|For your information/), "the notices or their absence");
  }
  await j.check(page, "portal-overview-notices");
}

export async function portalDashboard({ j, page, certificateName }) {
  await openNav(page, "Dashboard", /\/app\/portal\/deployments\/dep_[a-z2-7]{26}\/dashboard/);
  await checkDashboard({ j, page, certificateName, name: "portal-dashboard", file: /^signum-dashboard-dep_[a-z2-7]{26}-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$/ });
  await expectVisible(page.getByRole("meter", { name: "Certificates" }).or(page.getByText(/\(unlimited\)/)), "the licence use");
}

export async function consoleDashboard({ j, page, certificateName, scoped = false }) {
  await openNav(page, "Dashboard", /\/app\/console\/dashboard/);
  await checkDashboard({ j, page, certificateName, name: scoped ? "console-dashboard-scoped" : "console-dashboard", file: /^signum-dashboard-console-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$/ });
  if (scoped) {
    await expectVisible(page.getByText(/Not shown to a role scoped to certificate groups/), "the note on what a scoped role does not see");
  } else {
    await expectVisible(page.getByText(/^Plan:/), "the licence use");
    await expectVisible(page.getByRole("region", { name: "Users who signed most" }), "the top users");
  }
}

async function checkDashboard({ j, page, certificateName, name, file }) {
  const chart = page.getByRole("img", { name: /signatures per day for \d+ certificates?/ });
  await expectVisible(chart, "the signatures chart");
  await expectVisible(chart.locator("canvas"), "the chart's canvas");
  await expectVisible(page.getByRole("img", { name: /denied and failed requests per day/ }).locator("canvas"), "the denials and failures chart");

  // The chart's text alternative: the same numbers in a table.
  await page.getByText("Show as table: signatures per day by certificate").click();
  const table = page.getByRole("region", { name: "Signatures per day by certificate" });
  await expectVisible(table, "the signatures table");
  const headers = (await table.locator("thead th").allTextContents()).map((t) => t.trim());
  const col = headers.findIndex((h) => h === certificateName || h.startsWith(`${certificateName} (`));
  if (col < 1) throw new Error(`the signatures table has no column for ${certificateName}: ${headers.join(" | ")}`);
  const total = Number((await table.locator("tfoot td").nth(col - 1).textContent())?.trim());
  if (!(total >= 1)) throw new Error(`the signatures table shows ${total} signatures for ${certificateName}`);
  await j.check(page, name);

  // 7 days: the range goes into the address, and the dashboard is read again.
  await page.getByRole("radio", { name: "Last 7 days" }).check();
  await page.waitForURL(/[?&]days=7/);
  await expectVisible(chart.locator("canvas"), "the chart for 7 days");
  await expectVisible(page.getByRole("button", { name: "Download CSV (7 days)" }), "the CSV button for 7 days");

  const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV (7 days)" }).click()]);
  if (!file.test(dl.suggestedFilename())) throw new Error(`the CSV downloaded as ${dl.suggestedFilename()}`);
  const lines = readFileSync(await dl.path(), "utf8").trimEnd().split(/\r?\n/);
  if (lines[0] !== csvHeader) throw new Error(`the CSV's header line is ${JSON.stringify(lines[0])}, want ${csvHeader}`);
  const row = lines.slice(1).find((l) => l.split(",")[2] === certificateName || l.includes(`,${certificateName},`) || l.includes(`"${certificateName}"`));
  if (!row || !(Number(row.split(",")[3]) >= 1)) throw new Error(`the CSV has no signatures of ${certificateName}:\n${lines.join("\n")}`);
  await expectVisible(page.getByRole("status").filter({ hasText: /^Downloaded signum-dashboard-/ }), "the download confirmed");
  await j.check(page, `${name}-7-days`);
}

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
