package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensignum/signum/lib/client"
	"github.com/opensignum/signum/lib/wire"
)

// heldFlags are sign's flags for requests a policy holds for approval.
type heldFlags struct {
	wait      bool
	timeout   time.Duration
	requestID string
}

func (h *heldFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&h.wait, "wait", false, "when a policy requires approval, wait for it (polling) and then write the signed files")
	cmd.Flags().DurationVar(&h.timeout, "wait-timeout", 10*time.Minute, "how long --wait waits for the approvals")
	cmd.Flags().StringVar(&h.requestID, "request", "", "fetch the signatures of a request held for approval (its id, evt_...) instead of asking again; give the same files")
}

// check refuses what a held request cannot do: one request holds at most one batch.
func (h *heldFlags) check(files int) error {
	if h.requestID != "" && files > client.MaxBatch {
		return usageError{fmt.Sprintf("--request fetches one request, of at most %d files", client.MaxBatch)}
	}
	if h.timeout <= 0 {
		return usageError{"--wait-timeout must be positive"}
	}
	return nil
}

// setApproval tells c what to do with a held request; waiting is reported on stderr.
func (a *app) setApproval(c *client.Client, h heldFlags) {
	c.SetApproval(client.Approval{Wait: h.wait, Timeout: h.timeout, RequestID: h.requestID, OnHeld: func(r wire.HeldRequest) {
		fmt.Fprintf(a.errOut, "signum: the signing request %s needs %d approval(s) (expires %s); waiting up to %s\n", r.RequestID, r.Required, r.ExpiresAt, h.timeout)
	}})
}

// heldAdvice adds to a held request's error how to get its signatures later.
func heldAdvice(err error, certID string, files []string) error {
	var held *client.HeldError
	if !errors.As(err, &held) {
		return err
	}
	return fmt.Errorf("%w; once approved, write the signed files with: signum sign --request %s --cert %s %s (exit code %d: not signed yet)",
		err, held.Request.RequestID, certID, strings.Join(files, " "), exitHeld)
}
