// Labelled controls the shared Field does not cover (a textarea, a select, a checkbox), built
// the same way: the label, the hint and the error tied to the control for screen readers.
import { useId, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

function describedBy(id: string, hint?: ReactNode, error?: string) {
  return [hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ") || undefined;
}

function Extra({ id, hint, error }: { id: string; hint?: ReactNode; error?: string }) {
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

interface AreaProps extends TextareaHTMLAttributes<HTMLTextAreaElement> {
  label: string;
  error?: string;
  hint?: ReactNode;
}

export function AreaField({ label, error, hint, ...area }: AreaProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} className="list-input" aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, hint, error)} {...area} />
      <Extra id={id} hint={hint} error={error} />
    </div>
  );
}

interface SelectProps extends SelectHTMLAttributes<HTMLSelectElement> {
  label: string;
  error?: string;
  hint?: ReactNode;
  children: ReactNode;
}

export function SelectField({ label, error, hint, children, ...select }: SelectProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, hint, error)} {...select}>
        {children}
      </select>
      <Extra id={id} hint={hint} error={error} />
    </div>
  );
}

export function CheckField({ label, checked, onChange, hint, disabled }: { label: string; checked: boolean; onChange: (v: boolean) => void; hint?: ReactNode; disabled?: boolean }) {
  const id = useId();
  return (
    <div className="field check">
      <div className="row">
        <input id={id} type="checkbox" checked={checked} disabled={disabled} aria-describedby={describedBy(id, hint)} onChange={(e) => onChange(e.target.checked)} />
        <label htmlFor={id}>{label}</label>
      </div>
      <Extra id={id} hint={hint} />
    </div>
  );
}
