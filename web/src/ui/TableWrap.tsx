import type { ReactNode } from "react";

// TableWrap is a table inside a focusable, labelled region, so that a keyboard can scroll it
// where it is wider than a phone; its caption is for screen readers only.
export function TableWrap({ label, caption, className, children }: { label: string; caption: ReactNode; className?: string; children: ReactNode }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={label}>
      <table className={className}>
        <caption className="sr-only">{caption}</caption>
        {children}
      </table>
    </div>
  );
}
