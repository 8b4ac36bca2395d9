package truststore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack/truststoretest"
	"github.com/opensignum/signum/lib/truststore"
)

func publish(t *testing.T, w *truststoretest.World) truststore.Status {
	t.Helper()
	st, err := w.P.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPublishFollowsTheRegistrations: the first publish (CloudFormation's, before the
// domain exists) uploads a placeholder that admits nobody; once the domain exists, every
// registration and removal reaches the bundle the domain uses, an unchanged state uploads
// and updates nothing, and an expired CA leaves the bundle.
func TestPublishFollowsTheRegistrations(t *testing.T) {
	w := truststoretest.New(t)
	ctx := context.Background()

	st := publish(t, w)
	if !st.Uploaded || st.Pointed || st.Current || st.Certificates != 0 {
		t.Fatalf("first publish without a domain: %+v", st)
	}
	if err := w.Domains.Create(truststoretest.Domain, w.P.URI()); err != nil {
		t.Fatalf("API Gateway would not create the domain on the first bundle: %v", err)
	}
	if got := w.Deployed(t); len(got) != 1 || !strings.Contains(got[0], "placeholder") {
		t.Fatalf("empty truststore holds %v, want the placeholder", got)
	}
	if st, err := w.P.Check(ctx); err != nil || st.Current {
		t.Fatalf("a domain on no named version is current: %+v %v", st, err)
	}

	w.Register(t, "ca-one", 24*time.Hour)
	w.Register(t, "ca-two", 48*time.Hour)
	st = publish(t, w)
	if !st.Uploaded || !st.Pointed || !st.Current || st.Certificates != 2 {
		t.Fatalf("after two registrations: %+v", st)
	}
	if got := w.Deployed(t); strings.Join(got, ",") != "ca-one,ca-two" && strings.Join(got, ",") != "ca-two,ca-one" {
		t.Fatalf("deployed %v, want ca-one and ca-two", got)
	}

	_, v1, updates, _ := w.Domains.Truststore(truststoretest.Domain)
	again := publish(t, w)
	_, v2, updates2, _ := w.Domains.Truststore(truststoretest.Domain)
	if again.Uploaded || again.Pointed || v1 != v2 || updates != updates2 || !again.Current {
		t.Fatalf("publishing an unchanged state changed something: %+v (domain updates %d -> %d)", again, updates, updates2)
	}

	w.Unregister("ca-one")
	if st, err := w.P.Check(ctx); err != nil || st.Current || len(st.Reasons) == 0 {
		t.Fatalf("Check after a removal: %+v %v", st, err)
	}
	publish(t, w)
	if got := w.Deployed(t); strings.Join(got, ",") != "ca-two" {
		t.Fatalf("after the removal the domain uses %v", got)
	}

	w.Advance(72 * time.Hour)
	st = publish(t, w)
	if st.ExpiredLeftOut != 1 || st.Certificates != 0 || !st.Current {
		t.Fatalf("after ca-two expired: %+v", st)
	}
	if got := w.Deployed(t); len(got) != 1 || !strings.Contains(got[0], "placeholder") {
		t.Fatalf("after every CA expired the domain uses %v", got)
	}
}

// TestPublishRepairsTheDomain: a domain pointed elsewhere (by hand, or by a stack update
// that named no version) is pointed back at the newest bundle, without a new upload.
func TestPublishRepairsTheDomain(t *testing.T) {
	w := truststoretest.New(t)
	w.Register(t, "ca-one", 24*time.Hour)
	publish(t, w)
	if err := w.Domains.Create(truststoretest.Domain, w.P.URI()); err != nil {
		t.Fatal(err)
	}
	st := publish(t, w)
	if st.Uploaded || !st.Pointed || !st.Current || st.DomainVersion == "" {
		t.Fatalf("publish onto a domain created with no version: %+v", st)
	}
}

// TestRefusedBundleIsReported: when API Gateway refuses to point the domain at a bundle, the
// publish fails (so the event is retried and, in the end, dead-lettered) with API Gateway's
// reason, and the operator's status says so until a publish succeeds.
func TestRefusedBundleIsReported(t *testing.T) {
	w := truststoretest.New(t)
	ctx := context.Background()
	w.Register(t, "ca-one", 24*time.Hour)
	publish(t, w)
	if err := w.Domains.Create(truststoretest.Domain, w.P.URI()); err != nil {
		t.Fatal(err)
	}
	fetch := w.Domains.Fetch
	w.Domains.Fetch = func(string, string) ([]byte, error) { return nil, errors.New("the bundle is over the size limit") }
	w.Register(t, "ca-two", 24*time.Hour)
	if _, err := w.P.Publish(ctx); err == nil || !strings.Contains(err.Error(), "over the size limit") {
		t.Fatalf("publish of a refused bundle: %v", err)
	}
	st, err := w.P.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current || st.LastPublish == nil || !strings.Contains(st.LastPublish.Error, "over the size limit") || !strings.Contains(strings.Join(st.Reasons, ";"), "the last publish failed") {
		t.Fatalf("status after a refused publish: %+v", st)
	}
	w.Domains.Fetch = fetch
	publish(t, w)
	if st, err := w.P.Check(ctx); err != nil || !st.Current || st.LastPublish == nil || st.LastPublish.Error != "" {
		t.Fatalf("status after a good publish: %+v %v", st, err)
	}
}

// TestWarningsAreNotCurrent: a bundle API Gateway took with warnings (certificates it cannot
// use) is not current: clients of those CAs cannot complete a handshake.
func TestWarningsAreNotCurrent(t *testing.T) {
	w := truststoretest.New(t)
	w.Register(t, "ca-one", 24*time.Hour)
	publish(t, w)
	if err := w.Domains.Create(truststoretest.Domain, w.P.URI()); err != nil {
		t.Fatal(err)
	}
	// API Gateway's clock is past the CA's expiry (the publisher's is not).
	w.Domains.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	st := publish(t, w)
	if st.Current || len(st.Warnings) != 1 || !strings.Contains(strings.Join(st.Reasons, ";"), "API Gateway warns") {
		t.Fatalf("publish with a warning: %+v", st)
	}
}
