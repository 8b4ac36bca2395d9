package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/opensignum/signum/lib/client"
)

// formatOf is the format the file at path would be signed in with --format mode ("" for
// auto: detected from the file), and where its signature would go: what --dry-run shows.
func formatOf(path, mode string) (format, output string, err error) {
	format, err = client.CheckFormat(path, mode)
	if err != nil {
		return "", "", err
	}
	if format == client.FormatCMS {
		return format, path + ".p7s", nil
	}
	return format, path, nil
}

// dryRunFile is one file of a dry run.
type dryRunFile struct {
	Path   string `json:"path"`
	Format string `json:"format,omitempty"`
	Output string `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
}

// dryRunCert names the certificate a dry run would sign with.
type dryRunCert struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// dryRun is the answer of --dry-run (-o json).
type dryRun struct {
	DryRun      bool           `json:"dryRun"`
	Certificate dryRunCert     `json:"certificate"`
	Decision    client.Verdict `json:"decision"`
	Files       []dryRunFile   `json:"files,omitempty"`
	// Digest, DigestAlgorithm and SignatureScheme are sign-digest's.
	Digest          string `json:"digest,omitempty"`
	DigestAlgorithm string `json:"digestAlgorithm,omitempty"`
	SignatureScheme string `json:"signatureScheme,omitempty"`
}

// dryRunCertificate is the certificate that signing with ref ("" for the only one allowed)
// would use, and what signing with it from sc would get (POST /sign/evaluate). A reference
// that is no certificate the caller may use is asked about as an id: the answer says why not.
func (a *app) dryRunCertificate(ctx context.Context, c *client.Client, ref string, sc client.Context) (dryRunCert, client.Verdict, error) {
	var cert dryRunCert
	if ref == "" {
		found, err := a.findCert(ctx, c, ref, sc)
		if err != nil {
			return cert, client.Verdict{}, err
		}
		cert = dryRunCert{ID: found.ID, Name: found.Name}
	} else {
		cert.ID = ref
		certs, err := c.Certificates(ctx, sc.Process, sc.CommandLine)
		if err != nil {
			return cert, client.Verdict{}, err
		}
		for _, found := range certs {
			if found.ID == ref || found.Name == ref {
				cert = dryRunCert{ID: found.ID, Name: found.Name}
			}
		}
	}
	v, err := c.Evaluate(ctx, cert.ID, sc.Process, sc.CommandLine)
	if errors.Is(err, client.ErrNotFound) {
		err = fmt.Errorf("%w: no certificate %q (an id, or the name of one you may sign with; see signum certs)", client.ErrNotFound, ref)
	}
	return cert, v, err
}

// dryRunFiles shows what signing files would do — each file's format and output, the
// certificate, and the decision — and signs and writes nothing. A denial is exit code 4.
func (a *app) dryRunFiles(ctx context.Context, c *client.Client, ref, mode string, files []string, sc client.Context) error {
	cert, v, err := a.dryRunCertificate(ctx, c, ref, sc)
	if err != nil {
		return err
	}
	out := dryRun{DryRun: true, Certificate: cert, Decision: v}
	var errs []error
	for _, f := range files {
		format, output, err := formatOf(f, mode)
		df := dryRunFile{Path: f, Format: format, Output: output}
		if err != nil {
			df.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
		out.Files = append(out.Files, df)
	}
	if a.output == "json" {
		if err := a.json(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.out, "dry run: nothing is signed, nothing is written")
		tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tFORMAT\tSIGNATURE IN")
		for _, f := range out.Files {
			if f.Error != "" {
				fmt.Fprintf(tw, "%s\t-\t%s\n", f.Path, f.Error)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Path, f.Format, f.Output)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		a.printDecision(cert, v)
	}
	if err := refused(cert, v); err != nil {
		errs = append([]error{err}, errs...)
	}
	return errors.Join(errs...)
}

// dryRunDigest shows what signing a digest would do, and signs nothing.
func (a *app) dryRunDigest(ctx context.Context, c *client.Client, ref string, digest []byte, alg, scheme string, sc client.Context) error {
	cert, v, err := a.dryRunCertificate(ctx, c, ref, sc)
	if err != nil {
		return err
	}
	if scheme == "" {
		scheme = "the key's default"
	}
	out := dryRun{DryRun: true, Certificate: cert, Decision: v, Digest: hex.EncodeToString(digest), DigestAlgorithm: alg, SignatureScheme: scheme}
	if a.output == "json" {
		if err := a.json(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.out, "dry run: nothing is signed")
		fmt.Fprintf(a.out, "digest       %s (%s), signature scheme %s\n", out.Digest, alg, scheme)
		a.printDecision(cert, v)
	}
	return refused(cert, v)
}

// printDecision prints the certificate and the decision of a dry run.
func (a *app) printDecision(cert dryRunCert, v client.Verdict) {
	name := cert.ID
	if cert.Name != "" {
		name += " (" + cert.Name + ")"
	}
	fmt.Fprintf(a.out, "certificate  %s\n", name)
	switch {
	case v.Allowed && v.Owner:
		fmt.Fprintln(a.out, "decision     allowed: you own the certificate (no policy matches)")
	case v.Allowed:
		fmt.Fprintf(a.out, "decision     allowed by policy %q (%s)\n", v.PolicyName, v.PolicyID)
	default:
		fmt.Fprintf(a.out, "decision     denied: %s\n", v.Reason)
	}
	if v.ApprovalsRequired > 0 {
		fmt.Fprintf(a.out, "approval     held until %d approvers approve it (signum sign --wait waits for them)\n", v.ApprovalsRequired)
	}
	if v.TimestampRequired {
		fmt.Fprintln(a.out, "timestamp    each signature carries a token of the deployment's time-stamping authority")
	}
}

// refused is the error of a dry run whose request would be denied.
func refused(cert dryRunCert, v client.Verdict) error {
	if v.Allowed {
		return nil
	}
	return fmt.Errorf("%w: signing with %s would be refused: %s", client.ErrDenied, cert.ID, v.Reason)
}
