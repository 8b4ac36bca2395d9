import { useEffect, useId, useRef, useState, type ReactNode } from "react";

// ConfirmDelete opens a modal dialog that deletes only once the user has typed what (a name)
// exactly: a deletion cannot be undone.
export function ConfirmDelete({ what, name, consequence, busy, onConfirm, buttonLabel }: {
  what: string;
  name: string;
  consequence: ReactNode;
  busy?: boolean;
  buttonLabel: string;
  onConfirm(): void | Promise<void>;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const inputId = useId();
  const titleId = useId();
  const [typed, setTyped] = useState("");
  useEffect(() => {
    if (busy === false) setTyped("");
  }, [busy]);
  return (
    <>
      <button type="button" className="danger" onClick={() => ref.current?.showModal()}>
        {buttonLabel}
      </button>
      <dialog ref={ref} aria-labelledby={titleId} onClose={() => setTyped("")}>
        <form
          method="dialog"
          className="form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (typed !== name) return;
            await onConfirm();
            ref.current?.close();
          }}
        >
          <h2 id={titleId}>Delete {what}?</h2>
          <div>{consequence}</div>
          <div className="field">
            <label htmlFor={inputId}>
              Type <span className="mono">{name}</span> to confirm
            </label>
            <input id={inputId} autoComplete="off" value={typed} onChange={(e) => setTyped(e.target.value)} />
          </div>
          <div className="row">
            <button type="submit" className="danger" disabled={typed !== name || busy}>
              Delete {what}
            </button>
            <button type="button" className="secondary" onClick={() => ref.current?.close()}>
              Cancel
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
