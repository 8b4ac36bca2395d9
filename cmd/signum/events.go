package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/client"
)

// errTampered is a log that does not verify (exit code 1).
var errTampered = errors.New("the event log does not verify")

func (a *app) eventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Work with an export of the signing-event log"}
	cmd.AddCommand(a.eventsVerifyCmd())
	return cmd
}

// verification is what "events verify" reports (as GET /console/events/verify does).
type verification struct {
	Intact   bool            `json:"intact"`
	Events   int             `json:"eventsChecked"`
	Receipts int             `json:"receiptsChecked"`
	Anchored bool            `json:"anchorsChecked"`
	Problems []audit.Problem `json:"problems"`
}

func (a *app) eventsVerifyCmd() *cobra.Command {
	var keyFile, anchorsDir string
	var receiptFiles []string
	cmd := &cobra.Command{
		Use:   "verify FILE.jsonl",
		Short: "Check an export of the event log offline: its hash chains, receipts and anchors",
		Long: `Check a JSON-lines export of a deployment's whole event log (every page of
GET /console/events?format=jsonl, in any order) without the service: every lane's hash chain
(each event's hash by its version, RFC 8785 for "v":1), and, when given, the receipts signum
kept from its signing answers (--receipts) and the anchors copied from the anchor bucket
(--anchors DIR, e.g. "aws s3 sync s3://<bucket>/anchors DIR"), checked against the checkpoint
key's public key (--key: PEM, as "aws kms get-public-key" gives it, or checkpointKey.publicKeyPem
of GET /console/events/verify). Problems are reported by kind: deleted, altered, reordered,
rollback, seal. Exit code 1 when the log does not verify.`,
		Example: `  signum events verify events.jsonl
  signum events verify events.jsonl --key checkpoint.pem --receipts ~/.config/signum/receipts.jsonl --anchors anchors/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			var opts []audit.Option
			var root crypto.PublicKey
			if keyFile != "" {
				var err error
				if root, err = readPublicKey(keyFile); err != nil {
					return err
				}
				opts = append(opts, audit.WithKey(root))
			}
			if anchorsDir != "" {
				if root == nil {
					return usageError{"--anchors needs --key: anchors are checked against the checkpoint key"}
				}
				opts = append(opts, audit.WithAnchors(audit.DirAnchors(anchorsDir)))
			}
			var receipts []audit.Seal
			for _, f := range receiptFiles {
				rs, err := readReceipts(f)
				if err != nil {
					return err
				}
				receipts = append(receipts, rs...)
			}
			if len(receipts) > 0 {
				opts = append(opts, audit.WithReceipts(receipts))
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("%w: %v", client.ErrConfig, err)
			}
			defer f.Close()
			x, err := audit.ReadExport(f)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", client.ErrConfig, args[0], err)
			}
			problems, n, err := audit.Verify(context.Background(), x, x.DeploymentID, audit.Lanes, opts...)
			if err != nil {
				return err
			}
			v := verification{Intact: len(problems) == 0, Events: n, Receipts: len(receipts), Anchored: anchorsDir != "", Problems: problems}
			if v.Problems == nil {
				v.Problems = []audit.Problem{}
			}
			if a.output == "json" {
				if err := a.json(v); err != nil {
					return err
				}
			} else {
				for _, p := range problems {
					fmt.Fprintf(a.out, "%s: lane %d, event %d: %s\n", p.Kind, p.Lane, p.Seq, p.Detail)
				}
				if v.Intact {
					fmt.Fprintf(a.out, "intact: %d events of %s, %d receipts\n", n, x.DeploymentID, len(receipts))
				}
			}
			if !v.Intact {
				return fmt.Errorf("%w: %d problems", errTampered, len(problems))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the checkpoint key's public key (PEM) to check seals with")
	cmd.Flags().StringArrayVar(&receiptFiles, "receipts", nil, "a file of receipts, one JSON object a line (as signum sign-digest keeps them); repeatable")
	cmd.Flags().StringVar(&anchorsDir, "anchors", "", "a copy of the anchor bucket's anchors/ (needs --key)")
	return cmd
}

func readPublicKey(file string) (crypto.PublicKey, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", client.ErrConfig, err)
	}
	der := raw
	if b, _ := pem.Decode(raw); b != nil {
		der = b.Bytes
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a public key (PEM or DER SubjectPublicKeyInfo): %v", client.ErrConfig, file, err)
	}
	return pub, nil
}

func readReceipts(file string) ([]audit.Seal, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", client.ErrConfig, err)
	}
	defer f.Close()
	var out []audit.Seal
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, audit.MaxExportLine)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var s audit.Seal
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("%w: %s line %d is not a receipt: %v", client.ErrConfig, file, n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", client.ErrConfig, file, err)
	}
	return out, nil
}

// keepReceipt appends a signing answer's receipt to the receipts file: --receipts, else
// $SIGNUM_RECEIPTS, else receipts.jsonl beside the configuration file.
func (a *app) keepReceipt(file string, receipt json.RawMessage) error {
	if len(receipt) == 0 {
		return nil
	}
	if file == "" {
		file = os.Getenv("SIGNUM_RECEIPTS")
	}
	if file == "" {
		p, err := a.path()
		if err != nil {
			return err
		}
		file = filepath.Join(filepath.Dir(p), "receipts.jsonl")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	var line bytes.Buffer
	if err = json.Compact(&line, receipt); err == nil {
		line.WriteByte('\n')
		_, err = f.Write(line.Bytes())
	}
	return errors.Join(err, f.Close())
}
