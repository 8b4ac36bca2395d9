import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

// The labelled controls of every form: each ties its label, its hint and its error to the
// control for screen readers the same way, so that a page never wires them by hand.

interface Labelled {
  label: string;
  // error is the API's reason for this field (invalid-params), or a check made before sending.
  error?: string;
  hint?: ReactNode;
}

function describedBy(id: string, hint?: ReactNode, error?: string) {
  return [hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ") || undefined;
}

// Notes are a control's hint and error, with the ids its aria-describedby names.
function Notes({ id, hint, error }: { id: string; hint?: ReactNode; error?: string }) {
  return (
    <>
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
    </>
  );
}

// Field is a labelled input with its hint and its error, tied to it for screen readers.
export function Field({ label, error, hint, ...input }: Labelled & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, hint, error)} {...input} />
      <Notes id={id} hint={hint} error={error} />
    </div>
  );
}

// TextAreaField is a labelled text area with its hint and error.
export function TextAreaField({ label, error, hint, ...area }: Labelled & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, hint, error)} {...area} />
      <Notes id={id} hint={hint} error={error} />
    </div>
  );
}

interface SelectProps extends Labelled, SelectHTMLAttributes<HTMLSelectElement> {
  // options are the choices as data; children, <option> elements, serve as well.
  options?: { value: string; label: string }[];
}

// SelectField is a labelled select with its hint and error.
export function SelectField({ label, error, hint, options, children, ...select }: SelectProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, hint, error)} {...select}>
        {options?.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
        {children}
      </select>
      <Notes id={id} hint={hint} error={error} />
    </div>
  );
}

// CheckField is a checkbox with its label after it and its hint below.
export function CheckField({ label, checked, onChange, hint, disabled }: { label: string; checked: boolean; onChange: (v: boolean) => void; hint?: ReactNode; disabled?: boolean }) {
  const id = useId();
  return (
    <div className="field check">
      <div className="row">
        <input id={id} type="checkbox" checked={checked} disabled={disabled} aria-describedby={describedBy(id, hint)} onChange={(e) => onChange(e.target.checked)} />
        <label htmlFor={id}>{label}</label>
      </div>
      <Notes id={id} hint={hint} />
    </div>
  );
}
