package devstack

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DomainNames stands in for the part of API Gateway v2's control plane that the truststore
// function calls: GetDomainName and UpdateDomainName of a custom domain's mutual-TLS
// truststore, on the REST-JSON wire format the aws-sdk-go-v2 apigatewayv2 client speaks. No
// emulator of API Gateway's control plane runs here, so this is the project's own, and small.
//
// Like API Gateway, an update reads the truststore object (through Fetch) and refuses one
// that holds no certificate; expired certificates become warnings.
type DomainNames struct {
	// Fetch reads an s3://bucket/key at a version ("" for the newest): the S3 stand-in.
	Fetch func(uri, version string) ([]byte, error)
	// Now is the clock the warnings are computed with.
	Now func() time.Time

	mu      sync.Mutex
	domains map[string]*domainName
	updates int
}

type domainName struct {
	TruststoreURI     string
	TruststoreVersion string
	Warnings          []string
}

// NewDomainNames is an empty control plane reading truststores with fetch.
func NewDomainNames(fetch func(uri, version string) ([]byte, error)) *DomainNames {
	return &DomainNames{Fetch: fetch, Now: time.Now, domains: map[string]*domainName{}}
}

// Create makes a custom domain with mutual TLS on the truststore at uri, as CloudFormation
// does when it creates the stack's AWS::ApiGatewayV2::DomainName (with no version: the
// newest).
func (d *DomainNames) Create(name, uri string) error {
	dn := &domainName{TruststoreURI: uri}
	if err := d.load(dn, uri, ""); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.domains[name] = dn
	return nil
}

// Truststore is the truststore a domain uses, and how many updates the stand-in took.
func (d *DomainNames) Truststore(name string) (uri, version string, updates int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dn, ok := d.domains[name]
	if !ok {
		return "", "", d.updates, false
	}
	return dn.TruststoreURI, dn.TruststoreVersion, d.updates, true
}

// load checks the truststore as API Gateway does and records its warnings in dn.
func (d *DomainNames) load(dn *domainName, uri, version string) error {
	raw, err := d.Fetch(uri, version)
	if err != nil {
		return fmt.Errorf("the truststore %s (version %q) cannot be read: %w", uri, version, err)
	}
	n := 0
	dn.Warnings = nil
	for rest := raw; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("the truststore holds a block that is not a certificate: %w", err)
		}
		n++
		if d.Now().After(c.NotAfter) {
			dn.Warnings = append(dn.Warnings, "Certificate "+c.Subject.String()+" has expired")
		}
	}
	if n == 0 {
		return fmt.Errorf("the truststore %s holds no certificate", uri)
	}
	dn.TruststoreURI, dn.TruststoreVersion = uri, version
	return nil
}

type mutualTLS struct {
	TruststoreURI      string   `json:"truststoreUri,omitempty"`
	TruststoreVersion  string   `json:"truststoreVersion,omitempty"`
	TruststoreWarnings []string `json:"truststoreWarnings,omitempty"`
}

type domainNameJSON struct {
	DomainName              string     `json:"domainName"`
	MutualTLSAuthentication *mutualTLS `json:"mutualTlsAuthentication,omitempty"`
}

// ServeHTTP answers GET and PATCH /v2/domainnames/{name}.
func (d *DomainNames) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/v2/domainnames/")
	if !ok || name == "" || strings.Contains(name, "/") {
		apiError(w, http.StatusNotFound, "NotFoundException", "no such resource")
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dn, ok := d.domains[name]
	if !ok {
		apiError(w, http.StatusNotFound, "NotFoundException", "Invalid domain name identifier specified")
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPatch:
		var body struct {
			MutualTLSAuthentication *mutualTLS `json:"mutualTlsAuthentication"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			apiError(w, http.StatusBadRequest, "BadRequestException", err.Error())
			return
		}
		if m := body.MutualTLSAuthentication; m != nil {
			next := *dn
			if err := d.load(&next, m.TruststoreURI, m.TruststoreVersion); err != nil {
				apiError(w, http.StatusBadRequest, "BadRequestException", err.Error())
				return
			}
			*dn = next
			d.updates++
		}
	default:
		apiError(w, http.StatusMethodNotAllowed, "BadRequestException", "method not allowed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(domainNameJSON{DomainName: name, MutualTLSAuthentication: &mutualTLS{
		TruststoreURI: dn.TruststoreURI, TruststoreVersion: dn.TruststoreVersion, TruststoreWarnings: dn.Warnings}})
}

// apiError answers as API Gateway's REST-JSON protocol does, which the SDK turns into typed
// errors (NotFoundException, BadRequestException).
func apiError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", kind)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
