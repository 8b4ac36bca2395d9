// The signum CLI, as a build agent runs it: sign files over mutual TLS with a certificate
// user's .p12, against the local service the journey drives.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repo } from "../harness.mjs";

let bin;

// signumCLI builds cmd/signum once.
function signumCLI() {
  if (!bin) {
    bin = join(mkdtempSync(join(tmpdir(), "signum-e2e-cli-")), "signum");
    execFileSync("go", ["build", "-o", bin, "./cmd/signum"], { cwd: repo, stdio: "inherit" });
  }
  return bin;
}

// sign signs a new text file with certId as the holder of p12 (PKCS#12, password) and answers
// the CLI's exit status (0 signed, 4 refused by a policy), its output, and the file. With
// digest, it sends the file's SHA-256 alone (sign-digest): a user whom no policy covers cannot
// even read the certificate that `sign` embeds, so only a digest request reaches the signer and
// its refusal is recorded.
// args are more flags for sign (such as --wait or --request <id>).
export function sign({ service, certId, p12, password, digest = false, text = "hello, signed world\n", args = [] }) {
  const dir = mkdtempSync(join(tmpdir(), "signum-e2e-sign-"));
  const file = join(dir, "hello.txt");
  writeFileSync(file, text);
  const what = digest ? ["sign-digest", "--cert", certId, "--digest", createHash("sha256").update(text).digest("hex")] : ["sign", ...args, "--cert", certId, file];
  const r = spawnSync(signumCLI(), ["--config", join(dir, "none.json"), ...what], {
    env: {
      ...process.env,
      SIGNUM_URL: service.env.SIGNUM_TLS_URL,
      SIGNUM_HOST: service.env.SIGNUM_DEMO_DOMAIN,
      SIGNUM_CA: service.env.SIGNUM_TLS_CA,
      SIGNUM_P12: p12,
      SIGNUM_P12_PASSWORD: password,
    },
    encoding: "utf8",
    timeout: 60000,
  });
  return { status: r.status, output: (r.stdout ?? "") + (r.stderr ?? ""), file };
}

// signAsCIJob signs a new text file with certId as a GitHub Actions job does: no .p12 and no
// stored secret, only the runner's ID-token request variables of the job the local server
// registered at start (ci-job.env in its data directory); signum fetches the job's OIDC token,
// exchanges it for a short session and signs over the deployment's own host.
export function signAsCIJob({ service, certId, text = "built by CI\n" }) {
  const dir = mkdtempSync(join(tmpdir(), "signum-e2e-ci-"));
  const file = join(dir, "artifact.txt");
  writeFileSync(file, text);
  const job = Object.fromEntries(
    readFileSync(join(service.dataDir, "ci-job.env"), "utf8")
      .split("\n")
      .filter((l) => l.startsWith("export "))
      .map((l) => l.slice(7).split(/=(.*)/s).slice(0, 2))
      .map(([k, v]) => [k, v.replace(/^'|'$/g, "")]),
  );
  const r = spawnSync(signumCLI(), ["--config", join(dir, "none.json"), "sign", "--cert", certId, file], {
    env: {
      ...process.env,
      ACTIONS_ID_TOKEN_REQUEST_URL: job.ACTIONS_ID_TOKEN_REQUEST_URL,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: job.ACTIONS_ID_TOKEN_REQUEST_TOKEN,
      SIGNUM_URL: service.env.SIGNUM_URL,
      SIGNUM_HOST: service.env.SIGNUM_DEMO_DOMAIN,
    },
    encoding: "utf8",
    timeout: 60000,
  });
  return { status: r.status, output: (r.stdout ?? "") + (r.stderr ?? ""), file };
}
