import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { Pager, useCursorPages } from "./Pager";

afterEach(cleanup);

// List stands for a page that fetches imperatively: it records the cursor each move asks
// for; the API's next cursor of page i is "c<i+1>", and page 2 is the last.
function List() {
  const pages = useCursorPages();
  const [asked, setAsked] = useState<string[]>([]);
  const next = pages.index < 2 ? `c${pages.index + 1}` : undefined;
  return (
    <>
      <p>
        index={pages.index} cursor={pages.cursor ?? "-"} asked={asked.join(",")}
      </p>
      <Pager pages={pages} next={next} label="Pages" numbered onGo={(c) => setAsked([...asked, c ?? "-"])} />
      <button type="button" onClick={pages.reset}>
        Reset
      </button>
    </>
  );
}

describe("Pager", () => {
  it("goes forward with the API's cursor and back with the kept one", () => {
    render(<List />);
    expect(screen.getByText(/index=0/).textContent).toBe("index=0 cursor=- asked=");
    expect(screen.getByRole("button", { name: "Previous page" })).toHaveProperty("disabled", true);
    fireEvent.click(screen.getByRole("button", { name: "Next page" }));
    fireEvent.click(screen.getByRole("button", { name: "Next page" }));
    expect(screen.getByText(/index=2/).textContent).toBe("index=2 cursor=c2 asked=c1,c2");
    expect(screen.getByText("Page 3")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Next page" })).toHaveProperty("disabled", true);
    fireEvent.click(screen.getByRole("button", { name: "Previous page" }));
    expect(screen.getByText(/index=1/).textContent).toBe("index=1 cursor=c1 asked=c1,c2,c1");
    fireEvent.click(screen.getByRole("button", { name: "Previous page" }));
    expect(screen.getByText(/index=0/).textContent).toBe("index=0 cursor=- asked=c1,c2,c1,-");
  });

  it("starts again from the first page on reset", () => {
    render(<List />);
    fireEvent.click(screen.getByRole("button", { name: "Next page" }));
    fireEvent.click(screen.getByRole("button", { name: "Reset" }));
    expect(screen.getByText(/index=/).textContent).toBe("index=0 cursor=- asked=c1");
  });

  it("shows nothing where there is a single page", () => {
    const pages = { index: 0, cursor: undefined, forward: () => undefined, back: () => undefined, reset: () => {} };
    const { container } = render(<Pager pages={pages} next={null} label="Pages" />);
    expect(container.innerHTML).toBe("");
  });
});
