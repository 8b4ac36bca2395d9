import { describe, expect, it } from "vitest";
import { pkcs11Object } from "./CertificateDetail";

describe("pkcs11Object", () => {
  it("percent-encodes what a PKCS#11 URI's object attribute cannot hold", () => {
    expect(pkcs11Object("Release signing")).toBe("Release%20signing");
    expect(pkcs11Object("a;b/c")).toBe("a%3Bb%2Fc");
    expect(pkcs11Object("it's (new)")).toBe("it%27s%20%28new%29");
    expect(pkcs11Object("Release")).toBe("Release");
  });
});
