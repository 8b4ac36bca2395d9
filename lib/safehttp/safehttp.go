// Package safehttp is the HTTP client for URLs that someone outside the vendor chose: the
// issuers a tenant's Signum Administrator configures, and the endpoints those issuers'
// discovery documents name (jwks_uri, token_endpoint, userinfo_endpoint).
//
// Such a URL must not make the service reach what only the service can reach: the Lambda
// Runtime API on 127.0.0.1:9001, the instance metadata on 169.254.169.254 (or fd00:ec2::254),
// or addresses inside the VPC. A client from New therefore, unless Options.AllowPrivate is set
// (the local server, whose stand-in identity providers listen on loopback over plain http):
//
//   - fetches https URLs only, on every hop of a redirect;
//   - connects only to public unicast addresses. The check is made on the address each
//     connection is about to be made to, after DNS resolution, so a name that resolves to a
//     public address when it is validated and to a private one when it is fetched (DNS
//     rebinding) is refused too;
//   - ignores the proxy settings of the environment, so that the address checked is the one
//     connected to;
//   - follows at most MaxRedirects redirects.
//
// A refusal is a *RefusedError (errors.Is(err, ErrRefused)): it names the refused address or
// scheme, and no path or query.
package safehttp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Options configure New.
type Options struct {
	// AllowPrivate lets the client fetch plain http and connect to any address. Only the
	// local server sets it: its stand-in identity providers listen on loopback over http.
	AllowPrivate bool
	// AllowHTTP lets the client fetch plain http too, still only from public addresses: for
	// protocols whose answers are signed, such as RFC 3161 time-stamping authorities, which
	// commonly serve plain http only.
	AllowHTTP bool
	// Timeout bounds a whole request, redirects and reading the body included (default 10
	// seconds).
	Timeout time.Duration
}

// MaxRedirects is how many redirects a request follows.
const MaxRedirects = 5

// DefaultTimeout is the Timeout when Options leave it zero.
const DefaultTimeout = 10 * time.Second

// ErrRefused is what every refusal of the client is (errors.Is).
var ErrRefused = errors.New("safehttp: refused")

// RefusedError is a request the client refused to make.
type RefusedError struct {
	// URL is the scheme and host of the refused request (never its path or query).
	URL string
	// Addr is the address:port a connection was refused to, "" when the scheme was refused.
	Addr string
	// Reason says what is wrong with the address or scheme, e.g. "a loopback address". It
	// names no address, so it is fit for a caller-safe detail.
	Reason string
}

// Error implements error.
func (e *RefusedError) Error() string {
	switch {
	case e.Addr != "" && e.URL != "":
		return fmt.Sprintf("safehttp: refused to connect to %s for %s: %s", e.Addr, e.URL, e.Reason)
	case e.Addr != "":
		return fmt.Sprintf("safehttp: refused to connect to %s: %s", e.Addr, e.Reason)
	default:
		return fmt.Sprintf("safehttp: refused %s: %s", e.URL, e.Reason)
	}
}

// Is makes every RefusedError an ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// New returns a client as Options say.
func New(opts Options) *http.Client {
	return newClient(opts, func(ap netip.AddrPort) string { return refusal(ap.Addr()) })
}

// newClient is New with the address check as a parameter, for the tests, whose servers can
// only listen on loopback.
func newClient(opts Options, check func(netip.AddrPort) string) *http.Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		// Control runs for each address the dialer is about to connect to, after name
		// resolution and before the connection is made.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &RefusedError{Addr: address, Reason: "not an IP address"} // fail closed
			}
			if reason := check(ap); reason != "" {
				return &RefusedError{Addr: address, Reason: reason}
			}
			return nil
		}
	}
	// http.DefaultTransport's settings, written out rather than cloned so that they do not
	// depend on what a test or a library did to the global; Proxy is left nil on purpose.
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
	return &http.Client{
		Transport: &guard{base: tr, allowHTTP: opts.AllowPrivate || opts.AllowHTTP},
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("safehttp: stopped after %d redirects, at %s", MaxRedirects, origin(req.URL))
			}
			// The guard checks the scheme of every request too; checking here as well makes
			// the refusal name the redirect rather than fail later.
			return checkScheme(req.URL, opts.AllowPrivate || opts.AllowHTTP)
		},
	}
}

// guard refuses requests whose scheme is not https, and gives the refusals of the dialer the
// URL they were made for.
type guard struct {
	base      http.RoundTripper
	allowHTTP bool
}

// RoundTrip implements http.RoundTripper.
func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req.URL, g.allowHTTP); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, err
	}
	resp, err := g.base.RoundTrip(req)
	var re *RefusedError
	if err != nil && errors.As(err, &re) {
		// A new error rather than re filled in: a dial's error may reach more than one
		// waiting request.
		return nil, &RefusedError{URL: origin(req.URL), Addr: re.Addr, Reason: re.Reason}
	}
	return resp, err
}

func checkScheme(u *url.URL, allowHTTP bool) error {
	if u.Scheme == "https" || (allowHTTP && u.Scheme == "http") {
		return nil
	}
	return &RefusedError{URL: origin(u), Reason: fmt.Sprintf("the scheme %q (only https is fetched)", u.Scheme)}
}

// origin is a URL's scheme and host, which a refusal may name; the path and query may carry
// what a log should not.
func origin(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// Ranges the client does not connect to besides those netip classifies (loopback, private,
// link-local, multicast, unspecified).
var (
	// shared is RFC 6598's carrier-grade NAT space, which AWS and others use inside networks.
	shared = netip.MustParsePrefix("100.64.0.0/10")
	// reserved4 are IPv4 ranges that are not public unicast: "this network" (0.0.0.0/8, which
	// Linux connects to the local host), IETF protocol assignments, documentation,
	// benchmarking, the reserved class E and broadcast.
	reserved4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
	}
	// reserved6 are IPv6 ranges that are not public unicast, or that a network may translate
	// to anything: IPv4-compatible addresses, discard-only, Teredo, documentation, the
	// local-use NAT64 prefix and the deprecated site-local addresses.
	reserved6 = []netip.Prefix{
		netip.MustParsePrefix("::/96"),
		netip.MustParsePrefix("100::/64"),
		netip.MustParsePrefix("2001::/32"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
		netip.MustParsePrefix("fec0::/10"),
	}
	// nat64 (RFC 6052) and sixToFour (RFC 3056) embed an IPv4 address, which a gateway of the
	// network connects to: they are judged by the address they embed.
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// refusal says why the client does not connect to a, "" when it does: a is a public unicast
// address.
func refusal(a netip.Addr) string {
	a = a.WithZone("").Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	switch {
	case !a.IsValid():
		return "not an IP address"
	case a.IsUnspecified():
		return "an unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsMulticast():
		return "a multicast address"
	case shared.Contains(a):
		return "a shared (carrier-grade NAT) address"
	}
	if a.Is4() {
		if a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return "a broadcast address"
		}
		for _, p := range reserved4 {
			if p.Contains(a) {
				return "a reserved address"
			}
		}
		return ""
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		if r := refusal(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return "a NAT64 form of " + r
		}
		return ""
	case sixToFour.Contains(a):
		if r := refusal(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return "a 6to4 form of " + r
		}
		return ""
	}
	for _, p := range reserved6 {
		if p.Contains(a) {
			return "a reserved address"
		}
	}
	if !a.IsGlobalUnicast() {
		return "not a unicast address"
	}
	return ""
}
