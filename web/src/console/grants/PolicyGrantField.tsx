import { CheckField, Field } from "../../ui/Field";
import { usageText, type GrantFieldForm } from "./grantForm";

// PolicyGrantField is the policy form's grant: whether the policy counts its signatures, at
// most how many, and in which window (either side may stay open). A policy read with a grant
// shows its count in that window.
export function PolicyGrantField({ value, errors, onChange }: { value: GrantFieldForm; errors: Record<string, string>; onChange(g: GrantFieldForm): void }) {
  const set = (patch: Partial<GrantFieldForm>) => onChange({ ...value, ...patch });
  return (
    <fieldset>
      <legend>Grant: a count of signatures</legend>
      {errors.grant && <p className="field-error">{errors.grant}</p>}
      <CheckField
        label="Allow at most a number of signatures"
        checked={value.on}
        onChange={(on) => set({ on })}
        hint="Counted over everyone the policy allows, one per digest, exactly even for requests made at the same time. Past the count a request is refused and the refusal names this policy's grant."
      />
      {value.on && (
        <>
          {value.used !== undefined && value.max !== "" && (
            <p className="notice" role="status">
              So far: {usageText(value.used, Number(value.max))} in this window.
            </p>
          )}
          <Field label="Signatures" inputMode="numeric" value={value.max} error={errors["grant.maxSignatures"]} onChange={(e) => set({ max: e.target.value })} />
          <Field
            label="Grant from"
            placeholder="2026-12-01T00:00:00Z"
            value={value.from}
            error={errors["grant.from"]}
            hint="Optional. RFC 3339 with a zone; a new start begins a new count."
            onChange={(e) => set({ from: e.target.value })}
          />
          <Field label="Grant until" placeholder="2027-01-01T00:00:00Z" value={value.to} error={errors["grant.to"]} hint="Optional, exclusive. RFC 3339 with a zone." onChange={(e) => set({ to: e.target.value })} />
        </>
      )}
    </fieldset>
  );
}
