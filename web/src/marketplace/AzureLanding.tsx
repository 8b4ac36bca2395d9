import { useEffect, useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { api } from "../api/client";
import { show, type Shown } from "../api/problem";
import { ProblemBox } from "../ui/ProblemBox";
import { Page } from "../ui/Shell";
import { ticketFragment } from "./fragment";
import { where } from "./describe";

// AzureLanding is the offer's landing page: Azure sends the buyer here with a token in the
// query (?token=…, valid 24 hours). The service exchanges it for the subscription and a
// registration ticket, and the registration page takes over; the landing address, token and
// all, is replaced in the history.
export function AzureLanding() {
  const [params] = useSearchParams();
  const token = params.get("token")?.trim() ?? "";
  const navigate = useNavigate();
  const [problem, setProblem] = useState<Shown | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (!token) return;
    let live = true;
    setProblem(null);
    void api.POST("/marketplace/azure/resolve", { body: { token } }).then(({ data, error, response }) => {
      if (!live) return;
      if (data) navigate(`/marketplace/register${ticketFragment(data.ticket)}`, { replace: true });
      else setProblem(show(error, response));
    });
    return () => {
      live = false;
    };
  }, [token, attempt, navigate]);

  const again = <p>Open the subscription in the Azure portal (SaaS) and choose “Configure account now”: Azure sends you back here with a new token.</p>;
  return (
    <Page title="Set up your Azure subscription">
      {!token ? (
        <>
          <p className="notice">This page needs the token Azure adds to its address, and this address has none.</p>
          {again}
        </>
      ) : problem ? (
        <>
          <ProblemBox problem={problem.status === 410 ? { ...problem, title: "Azure did not accept the link you came with" } : problem} />
          {(problem.status ?? 500) >= 500 ? (
            <p>
              <button type="button" onClick={() => setAttempt((a) => a + 1)}>
                Try again
              </button>
            </p>
          ) : problem.status === 410 ? (
            !problem.detail?.includes("Configure account now") && again
          ) : (
            <p>To start again, {where("azure")}.</p>
          )}
        </>
      ) : (
        <p role="status">Reading your subscription from Azure…</p>
      )}
    </Page>
  );
}
