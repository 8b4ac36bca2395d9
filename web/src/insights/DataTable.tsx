import { dayLabel, total, type Columns } from "./dashboard";
import { TableWrap } from "../ui/TableWrap";
import "./insights.css";

// DataTable is a chart's text alternative: the same numbers, a row per day, a column per
// series and the total, inside a <details> so that it is there for anyone who wants it.
export function DataTable({ columns, title, dayHeader = "Day (UTC)" }: { columns: Columns; title: string; dayHeader?: string }) {
  return (
    <details className="as-table">
      <summary>Show as table: {title.charAt(0).toLowerCase() + title.slice(1)}</summary>
      <TableWrap label={title} caption={title}>
        <thead>
          <tr>
            <th scope="col">{dayHeader}</th>
            {columns.series.map((s) => (
              <th scope="col" key={s.key} className="num">
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {columns.dates.map((date, i) => (
            <tr key={date}>
              <th scope="row">
                <time dateTime={date}>{dayLabel(date)}</time>
              </th>
              {columns.series.map((s) => (
                <td key={s.key} className="num">
                  {s.values[i]}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">Total</th>
            {columns.series.map((s) => (
              <td key={s.key} className="num">
                {total(s.values)}
              </td>
            ))}
          </tr>
        </tfoot>
      </TableWrap>
    </details>
  );
}
