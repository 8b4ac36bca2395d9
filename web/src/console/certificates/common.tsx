// Pieces the certificates and users pages share: a PEM input that takes a paste or a file,
// how a refusal is explained and how times are shown.
import { useId, useState, type ReactNode } from "react";
import type { Shown } from "../../api/problem";
import { TextAreaField } from "../../ui/Field";
import { bytesToPem } from "./pem";

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
