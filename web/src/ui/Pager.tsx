import { useEffect, useState } from "react";
import { show, type Shown } from "../api/problem";

// CursorPages is where a list paged by the API's cursor is: the API's cursor only goes
// forward, so the cursors of the pages before are kept to go back.
export interface CursorPages {
  // index is the page shown, from 0.
  index: number;
  // cursor fetches the page shown (undefined for the first).
  cursor: string | undefined;
  // forward and back move a page and return the cursor that fetches it.
  forward(next: string | undefined): string | undefined;
  back(): string | undefined;
  // reset goes back to the first page, forgetting the cursors (new filters, say).
  reset(): void;
}

export function useCursorPages(): CursorPages {
  // cursors[i] is the cursor of page i (undefined for the first); the last is the page shown.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const index = cursors.length - 1;
  return {
    index,
    cursor: cursors[index],
    forward(next) {
      setCursors([...cursors, next]);
      return next;
    },
    back() {
      if (index === 0) return undefined;
      setCursors(cursors.slice(0, index));
      return cursors[index - 1];
    },
    reset() {
      setCursors([undefined]);
    },
  };
}

// Pager is the buttons to the page before and after, shown only where there is one; onGo
// fetches the page of the cursor where the page does not fetch on its own when pages change.
export function Pager({
  pages,
  next,
  label,
  onGo,
  previousText = "Previous page",
  nextText = "Next page",
  numbered = false,
  className = "row pager",
}: {
  pages: CursorPages;
  // next is the API's cursor to the page after the one shown, if there is one.
  next: string | null | undefined;
  label: string;
  onGo?(cursor: string | undefined): void;
  previousText?: string;
  nextText?: string;
  // numbered shows "Page n" between the buttons.
  numbered?: boolean;
  className?: string;
}) {
  if (pages.index === 0 && !next) return null;
  return (
    <nav aria-label={label} className={className}>
      <button type="button" className="secondary" disabled={pages.index === 0} onClick={() => onGo?.(pages.back())}>
        {previousText}
      </button>
      {numbered && <span>Page {pages.index + 1}</span>}
      <button type="button" className="secondary" disabled={!next} onClick={() => onGo?.(pages.forward(next ?? undefined))}>
        {nextText}
      </button>
    </nav>
  );
}

// useCursorList fetches the page of a list its pager points at, again whenever the pager
// moves; an answer that comes after the pager has moved on is dropped. fetchPage is read
// afresh on each move, so it may be a new function on every render.
export function useCursorList<T>(fetchPage: (cursor: string | undefined) => Promise<{ data?: T; error?: unknown; response: Response }>) {
  const pages = useCursorPages();
  const [list, setList] = useState<T | null>(null);
  const [problem, setProblem] = useState<Shown | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    let live = true;
    setLoading(true);
    void fetchPage(pages.cursor).then(({ data, error, response }) => {
      if (!live) return;
      setLoading(false);
      if (!data) {
        setProblem(show(error, response));
        return;
      }
      setProblem(null);
      setList(data);
    });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- fetchPage depends on the cursor only.
  }, [pages.cursor, pages.index]);

  return { pages, list, problem, loading };
}

// allPages reads every page of a cursor listing (for short lists a form or a page shows
// whole, such as groups, roles and domains), or the problem of the first page that failed.
export async function allPages<T>(
  fetchPage: (cursor: string | undefined) => Promise<{ data?: { items: T[]; next?: string | null }; error?: unknown; response: Response }>,
): Promise<{ items: T[] } | { problem: Shown; status: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const { data, error, response } = await fetchPage(cursor);
    if (!data) return { problem: show(error, response), status: response.status };
    items.push(...data.items);
    cursor = data.next ?? undefined;
  } while (cursor);
  return { items };
}
