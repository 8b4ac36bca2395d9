package audit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gowebpki/jcs"
)

// A seal is a signed statement about a deployment's log: "these events are at these places".
// A lane's checkpoint is a seal of its last event; a signing answer's receipt is a seal of
// the request's decision and completion events, which the client keeps.
//
// Seals are signed by a short-lived P-256 key that lives only in the signer function's memory,
// and the checkpoint key (a KMS key only the signer may sign with) certifies that key in a
// delegation: one KMS call per signer instance and hour rather than one per request, and a
// seal costs microseconds. Whoever can write the table but not use the checkpoint key can
// neither make a seal nor a delegation. A seal is checked offline with the checkpoint key's
// public key alone.
//
// Everything signed is the RFC 8785 form of the statement's JSON: the signature is ECDSA
// (ASN.1 DER, base64) over its SHA-256.

// Statement types.
const (
	// TypeCheckpoint is a lane's checkpoint: one position, the lane's last event.
	TypeCheckpoint = "signum.checkpoint/v1"
	// TypeReceipt is a signing answer's receipt: the positions of its events.
	TypeReceipt = "signum.receipt/v1"
	// TypeDelegation is the checkpoint key's certificate of a short-lived sealing key.
	TypeDelegation = "signum.delegation/v1"
)

// Position is where an event is: its lane, its sequence number and its hash. (Members in
// RFC 8785 order, as in Statement: see digestOf.)
type Position struct {
	Hash string `json:"hash"`
	ID   string `json:"id,omitempty"`
	Lane int    `json:"lane"`
	Seq  int64  `json:"seq"`
}

// PositionOf is where e is.
func PositionOf(e Event) Position { return Position{Lane: e.Lane, Seq: e.Seq, ID: e.ID, Hash: e.Hash} }

// Statement is what a seal says. Its members are declared in RFC 8785 order (by name), so
// that encoding/json writes the canonical form of a statement of plain ASCII itself (digestOf).
type Statement struct {
	At           time.Time  `json:"at"`
	DeploymentID string     `json:"deploymentId"`
	Events       []Position `json:"events"`
	Type         string     `json:"type"`
}

// Delegation says that the key PublicKey (base64 DER SubjectPublicKeyInfo) seals for the
// checkpoint key KeyID between NotBefore and NotAfter.
type Delegation struct {
	Type      string    `json:"type"`
	KeyID     string    `json:"keyId"`
	PublicKey string    `json:"publicKey"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
}

// SignedDelegation is a delegation with the checkpoint key's signature.
type SignedDelegation struct {
	Delegation Delegation `json:"delegation"`
	Signature  string     `json:"signature"`
}

// Seal is a signed statement with the delegation of the key that signed it.
type Seal struct {
	Statement  Statement        `json:"statement"`
	Signature  string           `json:"signature"`
	Delegation SignedDelegation `json:"delegation"`
}

// digestOf is the SHA-256 of v's RFC 8785 JSON form: what is signed. A Statement (one per
// seal, two per signing request) whose JSON is printable ASCII without escapes and whose
// numbers are exact as doubles is in canonical form as encoding/json writes it; anything
// else is canonicalized the generic way. It fails (never panics) on what does not marshal:
// the statements and delegations it verifies come from the table, anchors and receipts,
// where a time may be beyond year 9999.
func digestOf(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if st, ok := v.(Statement); !ok || !plainJSON(b) || !exactNumbers(st) {
		if b, err = jcs.Transform(b); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// plainJSON reports whether b is printable ASCII without a backslash: JSON that escapes
// nothing, which encoding/json and RFC 8785 write alike.
func plainJSON(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}

// exactNumbers reports whether every number of st is an integer a double holds exactly, as
// RFC 8785 writes numbers.
func exactNumbers(st Statement) bool {
	const exact = 1 << 53
	for _, p := range st.Events {
		if p.Seq > exact || p.Seq < -exact || p.Lane > exact || p.Lane < -exact {
			return false
		}
	}
	return true
}

// ErrSeal is a seal that does not verify.
var ErrSeal = errors.New("audit: the seal does not verify")

// Verify checks s against root, the checkpoint key's public key: the delegation is signed by
// root, the statement by the delegated key within its validity.
func (s Seal) Verify(root crypto.PublicKey) error {
	d := s.Delegation.Delegation
	if d.Type != TypeDelegation {
		return fmt.Errorf("%w: its delegation is of type %q", ErrSeal, d.Type)
	}
	if digest, err := digestOf(d); err != nil || !verifySig(root, digest, s.Delegation.Signature) {
		return fmt.Errorf("%w: its delegation is not signed by the checkpoint key", ErrSeal)
	}
	der, err := base64.StdEncoding.DecodeString(d.PublicKey)
	if err != nil {
		return fmt.Errorf("%w: the delegated key is not base64", ErrSeal)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return fmt.Errorf("%w: the delegated key does not parse", ErrSeal)
	}
	if s.Statement.Type != TypeCheckpoint && s.Statement.Type != TypeReceipt {
		return fmt.Errorf("%w: a statement of type %q", ErrSeal, s.Statement.Type)
	}
	if digest, err := digestOf(s.Statement); err != nil || !verifySig(pub, digest, s.Signature) {
		return fmt.Errorf("%w: the statement is not signed by the delegated key", ErrSeal)
	}
	if at := s.Statement.At; at.Before(d.NotBefore) || at.After(d.NotAfter) {
		return fmt.Errorf("%w: made at %s, outside its delegation (%s to %s)", ErrSeal, at.Format(time.RFC3339), d.NotBefore.Format(time.RFC3339), d.NotAfter.Format(time.RFC3339))
	}
	return nil
}

func verifySig(pub crypto.PublicKey, digest []byte, sig64 string) bool {
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		return false
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	}
	return false
}

// RootKey is the checkpoint key as the notary uses it (a keys.Key): it signs a SHA-256
// digest.
type RootKey interface {
	Public() crypto.PublicKey
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
	URI() string
}

// Delegation lifetimes: a delegation is renewed when older than DelegationRenew and valid
// for DelegationTTL, so that a renewal that fails leaves time for the next one.
const (
	DelegationRenew = time.Hour
	DelegationTTL   = 2 * time.Hour
	// clockSlack is how long before its making a delegation is valid: seals of other
	// instances whose clocks run a little behind still verify.
	clockSlack = time.Minute
)

// Notary seals statements for the signer. It opens the checkpoint key when first needed and
// has it certify a fresh in-memory key every DelegationRenew. It is safe for concurrent use.
type Notary struct {
	open func(ctx context.Context) (RootKey, error)
	now  func() time.Time

	mu  sync.Mutex
	cur *sealer
}

type sealer struct {
	key        *ecdsa.PrivateKey
	delegation SignedDelegation
	made       time.Time
}

// NewNotary returns a notary whose checkpoint key open gives (opened once, when first
// needed); now is the clock.
func NewNotary(open func(ctx context.Context) (RootKey, error), now func() time.Time) *Notary {
	return &Notary{open: open, now: now}
}

// Ready makes sure the notary can seal now: it certifies a new key when it has none, or one
// that is due for renewal (a renewal that fails while the current key is still valid is
// reported but the current key goes on sealing).
func (n *Notary) Ready(ctx context.Context) error {
	_, err := n.sealer(ctx)
	return err
}

func (n *Notary) sealer(ctx context.Context) (*sealer, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	if n.cur != nil && now.Sub(n.cur.made) < DelegationRenew {
		return n.cur, nil
	}
	fresh, err := n.delegate(ctx, now)
	if err != nil {
		if n.cur != nil && now.Before(n.cur.delegation.Delegation.NotAfter.Add(-clockSlack)) {
			return n.cur, nil
		}
		return nil, err
	}
	n.cur = fresh
	return fresh, nil
}

// delegate makes a new sealing key and has the checkpoint key sign its delegation.
func (n *Notary) delegate(ctx context.Context, now time.Time) (*sealer, error) {
	root, err := n.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the checkpoint key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	d := Delegation{Type: TypeDelegation, KeyID: root.URI(), PublicKey: base64.StdEncoding.EncodeToString(der),
		NotBefore: now.Add(-clockSlack).UTC().Truncate(time.Second), NotAfter: now.Add(DelegationTTL).UTC().Truncate(time.Second)}
	digest, err := digestOf(d)
	if err != nil {
		return nil, err
	}
	sig, err := root.SignContext(ctx, digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign a delegation with the checkpoint key: %w", err)
	}
	return &sealer{key: key, delegation: SignedDelegation{Delegation: d, Signature: base64.StdEncoding.EncodeToString(sig)}, made: now}, nil
}

// Seal signs a statement of type typ that the events of deployment dep are where they are.
func (n *Notary) Seal(ctx context.Context, typ, dep string, events ...Event) (Seal, error) {
	s, err := n.sealer(ctx)
	if err != nil {
		return Seal{}, err
	}
	st := Statement{Type: typ, DeploymentID: dep, At: n.now().UTC(), Events: make([]Position, len(events))}
	for i, e := range events {
		st.Events[i] = PositionOf(e)
	}
	digest, err := digestOf(st)
	if err != nil {
		return Seal{}, err
	}
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest)
	if err != nil {
		return Seal{}, err
	}
	return Seal{Statement: st, Signature: base64.StdEncoding.EncodeToString(sig), Delegation: s.delegation}, nil
}

// Root is the checkpoint key's public key and URI, which verifiers check seals against.
func (n *Notary) Root(ctx context.Context) (crypto.PublicKey, string, error) {
	root, err := n.open(ctx)
	if err != nil {
		return nil, "", err
	}
	return root.Public(), root.URI(), nil
}

// Latest is the last of events in each lane, by lane.
func Latest(events []Event) []Event {
	last := map[int]Event{}
	for _, e := range events {
		if cur, ok := last[e.Lane]; !ok || e.Seq > cur.Seq {
			last[e.Lane] = e
		}
	}
	out := make([]Event, 0, len(last))
	for _, e := range last {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lane < out[j].Lane })
	return out
}
