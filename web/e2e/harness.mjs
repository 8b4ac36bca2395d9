// The browser tests' harness: the whole local service (cmd/signum-local, as `make run` starts
// it, on free ports and a throw-away data directory) and Debian's Chromium driven by
// playwright-core. Every page a step visits is checked with axe (no serious or critical
// violation) and photographed into web/test-output/screenshots/ for a reviewer.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";

export const webDir = resolve(import.meta.dirname, "..");
export const repo = resolve(webDir, "..");
export const out = join(webDir, "test-output");

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

// startService builds and starts cmd/signum-local and waits for its demo.env.
export async function startService() {
  const bin = join(mkdtempSync(join(tmpdir(), "signum-e2e-bin-")), "signum-local");
  execFileSync("go", ["build", "-o", bin, "./cmd/signum-local"], { cwd: repo, stdio: "inherit" });
  const dataDir = mkdtempSync(join(tmpdir(), "signum-e2e-"));
  const port = await freePort();
  const tlsPort = await freePort();
  // The identity-provider stand-ins get free ports too, so that a run beside make run (or
  // another run) does not collide on their fixed defaults.
  const [actionsPort, idpPort, samlPort, tsaPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const proc = spawn(bin, ["-addr", `127.0.0.1:${port}`, "-tls-addr", `127.0.0.1:${tlsPort}`, "-data-dir", dataDir,
    "-actions-addr", `127.0.0.1:${actionsPort}`, "-idp-addr", `127.0.0.1:${idpPort}`, "-saml-addr", `127.0.0.1:${samlPort}`, "-tsa-addr", `127.0.0.1:${tsaPort}`,
    "-web", join(webDir, "dist"), "-log-level", "warn"], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const envFile = join(dataDir, "demo.env");
  for (let i = 0; i < 600 && !existsSync(envFile); i++) {
    if (proc.exitCode !== null) throw new Error("signum-local exited:\n" + log);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!existsSync(envFile)) throw new Error("signum-local did not start:\n" + log);
  const env = Object.fromEntries(readFileSync(envFile, "utf8").trim().split("\n").map((l) => l.split(/=(.*)/s).slice(0, 2)));
  return {
    env,
    dataDir,
    port,
    portal: `http://localhost:${port}`,
    console: `http://${env.SIGNUM_DEMO_DOMAIN}:${port}`,
    log: () => log,
    // toggleDatabase stops, or starts again, the DynamoDB stand-in (make run's SIGUSR2).
    toggleDatabase: () => proc.kill("SIGUSR2"),
    stop() {
      proc.kill("SIGTERM");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startBrowser() {
  const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
  return chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

// browserContext is a fresh browser profile (cookies, memory) at a laptop's size, or viewport.
export function browserContext(browser, viewport = { width: 1280, height: 900 }) {
  return browser.newContext({ viewport, acceptDownloads: true });
}

// Journey records each page's accessibility and screenshot, and each step's outcome.
export class Journey {
  constructor() {
    this.failures = [];
    this.pages = 0;
    // One run's screenshots only: an earlier run's, numbered differently, would mix in.
    rmSync(join(out, "screenshots"), { recursive: true, force: true });
    mkdirSync(join(out, "screenshots"), { recursive: true });
  }

  // check runs axe on the page and takes its screenshot under name.
  async check(page, name) {
    await page.waitForLoadState("networkidle");
    const result = await new AxeBuilder({ page }).analyze();
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    for (const v of bad) {
      this.failures.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
    }
    await page.screenshot({ path: join(out, "screenshots", `${String(++this.pages).padStart(2, "0")}-${name}.png`), fullPage: true });
  }

  async step(name, fn) {
    const started = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      this.failures.push(`${name}: ${e.stack ?? e}`);
      console.log(`FAIL ${name}: ${e.message ?? e}`);
      throw e;
    }
  }
}

// expectVisible fails unless locator shows up.
export async function expectVisible(locator, what) {
  try {
    await locator.first().waitFor({ state: "visible", timeout: 10000 });
  } catch {
    throw new Error(`not visible: ${what}`);
  }
}
