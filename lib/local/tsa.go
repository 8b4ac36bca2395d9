package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opensignum/signum/lib/tsastandin"
)

// Files in the data dir that say where the time-stamping authority stand-in is and what its
// tokens chain to, for scripts and the browser test (they change at each start).
const (
	// TSAURLFile holds the stand-in's URL.
	TSAURLFile = "tsa-url"
	// TSACAFile holds the PEM CA certificate of the stand-in's throw-away TSA certificate:
	// the caPem of PUT /console/timestamping, and what osslsigncode -TSA-CAfile and
	// openssl ts -verify -CAfile are given.
	TSACAFile = "tsa-ca.pem"
)

// startTSA starts the RFC 3161 time-stamping authority stand-in (its certificate is made
// afresh at each start) and keeps its URL and CA in the data dir.
func (s *Server) startTSA(ctx context.Context, o Options) error {
	var err error
	if s.TSA, err = tsastandin.Start(context.WithoutCancel(ctx), o.TSAAddr); err != nil {
		return fmt.Errorf("time-stamping authority stand-in: %w", err)
	}
	if o.DataDir == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(o.DataDir, TSACAFile), s.TSA.CAPEM, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", TSACAFile, err)
	}
	if err := os.WriteFile(filepath.Join(o.DataDir, TSAURLFile), []byte(s.TSA.URL), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", TSAURLFile, err)
	}
	return nil
}
