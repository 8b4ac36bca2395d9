import { useId, type InputHTMLAttributes, type ReactNode } from "react";

interface Props extends InputHTMLAttributes<HTMLInputElement> {
  label: string;
  // error is the API's reason for this field (invalid-params), or a check made before sending.
  error?: string;
  hint?: ReactNode;
}

// Field is a labelled input with its hint and its error, tied to it for screen readers.
export function Field({ label, error, hint, ...input }: Props) {
  const id = useId();
  const described = [hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={described} {...input} />
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
