import type { Shown } from "../api/problem";

// ProblemBox shows a refused request's title and detail where the user is looking; field
// reasons are shown beside their fields (Field).
export function ProblemBox({ problem }: { problem: Shown | null }) {
  if (!problem) return null;
  const unlisted = Object.keys(problem.fields).length > 0 && !problem.detail;
  return (
    <div role="alert" className="problem">
      <strong>{problem.title}</strong>
      {problem.detail && <p>{problem.detail}</p>}
      {unlisted && <p>Check the fields marked below.</p>}
    </div>
  );
}
