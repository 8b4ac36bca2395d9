import { describe, expect, it } from "vitest";
import { allPages } from "./Pager";

const ok = (items: number[], next?: string) => ({ data: { items, next }, response: new Response(null, { status: 200 }) });

describe("reading every page of a listing", () => {
  it("follows the cursor to the end", async () => {
    const seen: (string | undefined)[] = [];
    const r = await allPages(async (cursor) => {
      seen.push(cursor);
      return cursor === undefined ? ok([1, 2], "c2") : ok([3]);
    });
    expect(r).toEqual({ items: [1, 2, 3] });
    expect(seen).toEqual([undefined, "c2"]);
  });
  it("answers the problem of a page that fails", async () => {
    const r = await allPages<number>(async (cursor) =>
      cursor ? { error: { title: "Forbidden", status: 403 }, response: new Response(null, { status: 403 }) } : ok([1], "c2"),
    );
    expect("problem" in r && r.status).toBe(403);
  });
});
