import { describe, expect, it } from "vitest";
import { readFragment, ticketFragment } from "./fragment";

describe("reading the registration page's fragment", () => {
  it("reads a ticket, URL-encoded as the fulfilment URL sends it", () => {
    expect(readFragment("#ticket=mkt_abc%2Bdef")).toEqual({ ticket: "mkt_abc+def" });
  });
  it("reads an error message with its spaces and punctuation", () => {
    const msg = "The marketplace did not accept the registration token: it has expired. Open the product again.";
    expect(readFragment("#error=" + encodeURIComponent(msg))).toEqual({ error: msg });
    // Go's url.QueryEscape writes spaces as "+".
    expect(readFragment("#error=token+expired")).toEqual({ error: "token expired" });
  });
  it("prefers the ticket when both are there", () => {
    expect(readFragment("#error=x&ticket=mkt_1")).toEqual({ ticket: "mkt_1" });
  });
  it("answers none for an empty or blank fragment", () => {
    expect(readFragment("")).toEqual({ none: true });
    expect(readFragment("#")).toEqual({ none: true });
    expect(readFragment("#ticket=%20&error=")).toEqual({ none: true });
  });
  it("round-trips a ticket through the fragment it builds", () => {
    expect(readFragment(ticketFragment("mkt_a/b+c=d"))).toEqual({ ticket: "mkt_a/b+c=d" });
  });
});
