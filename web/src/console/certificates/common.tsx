// Pieces the certificates and users pages share: labelled selects and text areas in the
// style of ui/Field, a PEM input that takes a paste or a file, a confirmation dialog for
// deletions, file downloads, and how a refusal is explained.
import { useEffect, useId, useRef, useState, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";
import type { Shown } from "../../api/problem";
import { bytesToPem } from "./pem";

interface SelectProps extends SelectHTMLAttributes<HTMLSelectElement> {
  label: string;
  error?: string;
  hint?: ReactNode;
  options: { value: string; label: string }[];
}

// SelectField is a labelled select with its hint and error, as Field is for inputs.
export function SelectField({ label, error, hint, options, ...select }: SelectProps) {
  const id = useId();
  const described = [hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-invalid={error ? true : undefined} aria-describedby={described} {...select}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {hint && (
        <div id={id + "-hint"} className="hint">
          {hint}
        </div>
      )}
      {error && (
        <div id={id + "-error"} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

interface AreaProps extends TextareaHTMLAttributes<HTMLTextAreaElement> {
  label: string;
  error?: string;
  hint?: ReactNode;
}

// TextAreaField is a labelled text area with its hint and error.
export function TextAreaField({ label, error, hint, ...area }: AreaProps) {
  const id = useId();
  const described = [hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} aria-invalid={error ? true : undefined} aria-describedby={described} {...area} />
      {hint && (
        <div id={id + "-hint"} className="hint">
          {hint}
        </div>
      )}
      {error && (
        <div id={id + "-error"} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

// PemInput is a text area for pasted PEM with a file picker beside it that fills it; a
// binary file is read as DER (derLabel wraps it as PEM; without, it is sent as base64).
export function PemInput({ label, value, onChange, error, hint, derLabel, accept }: {
  label: string;
  value: string;
  onChange(v: string): void;
  error?: string;
  hint?: ReactNode;
  derLabel?: string;
  accept: string;
}) {
  const fileId = useId();
  const [read, setRead] = useState("");
  return (
    <div className="pem-input">
      <TextAreaField label={label} value={value} onChange={(e) => onChange(e.target.value)} error={error} hint={hint} spellCheck={false} />
      <div className="field">
        <label htmlFor={fileId}>Or choose a file</label>
        <input
          id={fileId}
          type="file"
          accept={accept}
          onChange={async (e) => {
            const f = e.target.files?.[0];
            if (!f) return;
            onChange(bytesToPem(new Uint8Array(await f.arrayBuffer()), derLabel));
            setRead(`Read ${f.name}.`);
          }}
        />
        <div role="status" className="hint">
          {read}
        </div>
      </div>
    </div>
  );
}

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

// download saves text as a file: a Blob behind an <a download>, so the file never passes
// through a server again.
export function download(text: string, filename: string, type = "application/x-pem-file") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// explain adds what to do to the refusals whose remedy is always the same.
export function explain(p: Shown): Shown {
  if (p.status === 412) {
    return { ...p, detail: `${p.detail ?? ""} Someone changed this since the page loaded it: reload the page, check the new state and try again.`.trim() };
  }
  return p;
}

export function when(iso?: string) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function day(iso?: string) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { dateStyle: "medium" });
}
