// PasswordRules lists a password's rules, each ticked off once met, for a Field's hint; the
// tick is said in words to a screen reader.
export function PasswordRules({ rules, label }: { rules: { label: string; ok: boolean }[]; label: string }) {
  return (
    <ul className="rules" aria-label={label}>
      {rules.map((r) => (
        <li key={r.label} className={r.ok ? "ok" : "todo"}>
          <span aria-hidden="true">{r.ok ? "✓" : "•"}</span> {r.label}
          <span className="sr-only">{r.ok ? " (met)" : " (not met yet)"}</span>
        </li>
      ))}
    </ul>
  );
}
