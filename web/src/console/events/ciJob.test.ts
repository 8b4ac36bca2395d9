import { describe, expect, it } from "vitest";
import { ciJob } from "./Events";

describe("a signing event's CI job", () => {
  it("names the repository, ref, workflow and run", () => {
    expect(ciJob({ repository: "acme/app", ref: "refs/heads/main", workflow: "release", run_id: "42", sub: "repo:acme/app:ref:refs/heads/main" })).toBe(
      "CI job acme/app @ refs/heads/main (workflow release, run 42)",
    );
  });
  it("falls back to the subject", () => {
    expect(ciJob({ sub: "project_path:acme/app:ref_type:branch:ref:main" })).toBe("CI job project_path:acme/app:ref_type:branch:ref:main");
  });
});
