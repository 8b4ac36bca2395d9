package marketplace_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	mmtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/marketstandin"
)

// The adapters run against the AWS stand-in through the real SDK clients, so what is tested
// is what goes over the wire.

var standinNow = time.Date(2026, 12, 3, 14, 30, 0, 0, time.UTC)

func newAWS(t *testing.T) (*marketstandin.AWS, *marketplace.AWSClients) {
	t.Helper()
	a, url := marketstandin.StartAWS(t)
	a.SetClock(func() time.Time { return standinNow })
	return a, marketplace.NewAWSClients(marketstandin.AWSClients(url))
}

// callsOf are the stand-in's calls of target from the n-th on.
func callsOf(a *marketstandin.AWS, target string, from int) []marketstandin.AWSCall {
	var out []marketstandin.AWSCall
	for _, c := range a.Calls()[from:] {
		if c.Target == target {
			out = append(out, c)
		}
	}
	return out
}

func TestAWSResolveCustomer(t *testing.T) {
	a, c := newAWS(t)
	ctx := context.Background()
	token, want := a.Subscribe(fxAccount, fxProduct, "standard", 0)
	t.Run("ok", func(t *testing.T) {
		got, err := c.ResolveCustomer(ctx, " "+token+"\n")
		if err != nil || got != want {
			t.Fatalf("%+v %v, want %+v", got, err, want)
		}
	})
	t.Run("ok/after-two-failures", func(t *testing.T) {
		a.FailNext(marketstandin.TargetResolveCustomer, 2)
		if got, err := c.ResolveCustomer(ctx, token); err != nil || got != want {
			t.Fatalf("%+v %v", got, err)
		}
	})
	for name, setup := range map[string]func() string{
		"fail/unknown": func() string { return "bm90IGEgdG9rZW4=" },
		"fail/empty":   func() string { return " " },
		"fail/expired": func() string { tok := a.NewToken(want); a.ExpireTokens(); return tok },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.ResolveCustomer(ctx, setup())
			if !errors.Is(err, marketplace.ErrTokenRejected) || errors.Is(err, fault.ErrUnavailable) {
				t.Fatalf("%v, want ErrTokenRejected", err)
			}
		})
	}
	for name, fail := range map[string]func(){
		"fail/internal-errors": func() { a.FailNext(marketstandin.TargetResolveCustomer, 3) },
		"fail/throttled":       func() { a.FailNextWith(marketstandin.TargetResolveCustomer, 3, 400, "ThrottlingException") },
		"fail/bad-gateway":     func() { a.FailNextWith(marketstandin.TargetResolveCustomer, 3, 502, "BadGateway") },
	} {
		t.Run(name, func(t *testing.T) {
			fail()
			_, err := c.ResolveCustomer(ctx, token)
			if !errors.Is(err, marketplace.ErrUnavailable) || errors.Is(err, marketplace.ErrTokenRejected) {
				t.Fatalf("%v, want ErrUnavailable", err)
			}
		})
	}
	t.Run("fail/refused-is-not-unavailable", func(t *testing.T) {
		a.FailNextWith(marketstandin.TargetResolveCustomer, 1, 400, "DisabledApiException")
		_, err := c.ResolveCustomer(ctx, token)
		var disabled *mmtypes.DisabledApiException
		if !errors.As(err, &disabled) || errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("%v, want DisabledApiException and not ErrUnavailable", err)
		}
	})
}

func TestAWSBatchMeterUsage(t *testing.T) {
	a, c := newAWS(t)
	ctx := context.Background()
	_, cust := a.Subscribe(fxAccount, fxProduct, "", 0)
	_, gone := a.Subscribe("444455556666", fxProduct, "", 0)
	a.Unsubscribe(gone)
	_, l := a.Subscribe("555566667777", fxProduct, "", 0)
	legacy := marketplace.AWSCustomer{CustomerIdentifier: l.CustomerIdentifier, ProductCode: fxProduct}
	hour := standinNow.Truncate(time.Hour).Add(-time.Hour)
	rec := func(cu marketplace.AWSCustomer, dim string, q int64) marketplace.UsageRecord {
		return marketplace.UsageRecord{Customer: cu, Dimension: dim, Quantity: q, Hour: hour}
	}

	t.Run("ok/license-and-legacy-in-their-own-calls", func(t *testing.T) {
		from := len(a.Calls())
		records := []marketplace.UsageRecord{rec(cust, "signatures", 40), rec(legacy, "signatures", 5), rec(gone, "signatures", 1), rec(cust, "certificates", 3)}
		got, err := c.BatchMeterUsage(ctx, fxProduct, records)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			status   string
			accepted bool
		}{{"Success", true}, {"Success", true}, {"CustomerNotSubscribed", false}, {"Success", true}}
		for i, w := range want {
			if got[i].Status != w.status || got[i].Accepted != w.accepted || got[i].Record.Dimension != records[i].Dimension || got[i].Record.Customer != records[i].Customer ||
				w.status == "Success" && got[i].ID == "" {
				t.Errorf("result %d: %+v, want %+v", i, got[i], w)
			}
		}
		calls := callsOf(a, marketstandin.TargetBatchMeterUsage, from)
		if len(calls) != 2 {
			t.Fatalf("%d calls, want one by license and one by customer identifier", len(calls))
		}
		byLicense, byIdentifier := calls[0].Input, calls[1].Input
		if _, ok := byLicense["ProductCode"]; ok {
			t.Errorf("the license call names a ProductCode: %v", byLicense)
		}
		for _, r := range byLicense["UsageRecords"].([]any) {
			r := r.(map[string]any)
			if r["LicenseArn"] == nil || r["CustomerAWSAccountId"] == nil || r["CustomerIdentifier"] != nil || r["Timestamp"] != float64(hour.Unix()) {
				t.Errorf("license record %v", r)
			}
		}
		if byIdentifier["ProductCode"] != fxProduct {
			t.Errorf("the legacy call: %v", byIdentifier)
		}
		for _, r := range byIdentifier["UsageRecords"].([]any) {
			if r := r.(map[string]any); r["CustomerIdentifier"] != l.CustomerIdentifier || r["LicenseArn"] != nil {
				t.Errorf("legacy record %v", r)
			}
		}
	})
	t.Run("ok/again-and-changed-are-accepted", func(t *testing.T) {
		got, err := c.BatchMeterUsage(ctx, fxProduct, []marketplace.UsageRecord{rec(cust, "signatures", 40), rec(cust, "certificates", 4)})
		if err != nil || got[0].Status != "Success" || !got[0].Accepted || got[1].Status != "DuplicateRecord" || !got[1].Accepted {
			t.Fatalf("%+v %v", got, err)
		}
		if n := len(a.MeterRecords()); n != 3 {
			t.Errorf("%d records metered, want 3", n)
		}
	})
	t.Run("ok/unprocessed", func(t *testing.T) {
		a.UnprocessNext(1)
		got, err := c.BatchMeterUsage(ctx, fxProduct, []marketplace.UsageRecord{rec(cust, "users", 7), rec(cust, "signatures_overage", 2)})
		if err != nil || got[0].Status != marketplace.StatusUnprocessed || got[0].Accepted || got[1].Status != "Success" || !got[1].Accepted {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("ok/batches-of-25", func(t *testing.T) {
		from := len(a.Calls())
		var records []marketplace.UsageRecord
		for i := range 30 {
			records = append(records, rec(cust, fmt.Sprintf("dim-%02d", i), int64(i)))
		}
		got, err := c.BatchMeterUsage(ctx, "", records)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			if !r.Accepted || r.Record.Dimension != records[i].Dimension {
				t.Fatalf("result %d: %+v", i, r)
			}
		}
		calls := callsOf(a, marketstandin.TargetBatchMeterUsage, from)
		if len(calls) != 2 || len(calls[0].Input["UsageRecords"].([]any)) != 25 || len(calls[1].Input["UsageRecords"].([]any)) != 5 {
			t.Fatalf("%d calls", len(calls))
		}
	})
	t.Run("ok/nothing", func(t *testing.T) {
		from := len(a.Calls())
		if got, err := c.BatchMeterUsage(ctx, fxProduct, nil); err != nil || len(got) != 0 || len(a.Calls()) != from {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("fail/out-of-window", func(t *testing.T) {
		old := rec(cust, "signatures", 1)
		old.Hour = standinNow.Add(-25 * time.Hour)
		_, err := c.BatchMeterUsage(ctx, fxProduct, []marketplace.UsageRecord{old})
		var oob *mmtypes.TimestampOutOfBoundsException
		if !errors.As(err, &oob) || errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("%v, want TimestampOutOfBoundsException, not ErrUnavailable", err)
		}
	})
	t.Run("fail/unavailable", func(t *testing.T) {
		a.FailNext(marketstandin.TargetBatchMeterUsage, 3)
		if _, err := c.BatchMeterUsage(ctx, fxProduct, []marketplace.UsageRecord{rec(cust, "signatures", 40)}); !errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("%v, want ErrUnavailable", err)
		}
	})
	for name, c2 := range map[string]struct {
		product string
		r       marketplace.UsageRecord
	}{
		"fail/no-customer":            {fxProduct, rec(marketplace.AWSCustomer{AWSAccountID: fxAccount}, "signatures", 1)},
		"fail/no-dimension":           {fxProduct, rec(cust, " ", 1)},
		"fail/no-hour":                {fxProduct, marketplace.UsageRecord{Customer: cust, Dimension: "signatures", Quantity: 1}},
		"fail/negative":               {fxProduct, rec(cust, "signatures", -1)},
		"fail/over-int32":             {fxProduct, rec(cust, "signatures", 1<<31)},
		"fail/legacy-without-product": {"", rec(legacy, "signatures", 1)},
	} {
		t.Run(name, func(t *testing.T) {
			from := len(a.Calls())
			_, err := c.BatchMeterUsage(ctx, c2.product, []marketplace.UsageRecord{rec(cust, "signatures", 40), c2.r})
			if !errors.Is(err, fault.ErrInvalid) || len(a.Calls()) != from {
				t.Fatalf("%v (%d calls), want ErrInvalid before any call", err, len(a.Calls())-from)
			}
		})
	}
}

func TestAWSGetEntitlements(t *testing.T) {
	a, c := newAWS(t)
	ctx := context.Background()
	_, cust := a.Subscribe(fxAccount, fxProduct, "enterprise", 25)
	expires := time.Date(2027, 12, 3, 0, 0, 0, 0, time.UTC)
	a.SetEntitlement(cust, "users", 30, expires)
	_, other := a.Subscribe("444455556666", fxProduct, "standard", 0)
	legacy := marketplace.AWSCustomer{CustomerIdentifier: other.CustomerIdentifier, ProductCode: fxProduct}

	t.Run("ok/by-account-and-license-every-page", func(t *testing.T) {
		a.SetEntitlementsPageSize(1)
		defer a.SetEntitlementsPageSize(25)
		from := len(a.Calls())
		got, err := c.GetEntitlements(ctx, fxProduct, cust)
		if err != nil {
			t.Fatal(err)
		}
		want := []marketplace.Entitlement{{Dimension: "enterprise", Value: 25}, {Dimension: "users", Value: 30, ExpiresAt: expires}}
		if len(got) != 2 || got[0] != want[0] || got[1].Dimension != "users" || got[1].Value != 30 || !got[1].ExpiresAt.Equal(expires) {
			t.Fatalf("%+v, want %+v", got, want)
		}
		calls := callsOf(a, marketstandin.TargetGetEntitlements, from)
		if len(calls) != 3 {
			t.Fatalf("%d calls, want 3 pages", len(calls))
		}
		f := calls[0].Input["Filter"].(map[string]any)
		if len(f) != 2 || f["CUSTOMER_AWS_ACCOUNT_ID"].([]any)[0] != fxAccount || f["LICENSE_ARN"].([]any)[0] != cust.LicenseARN {
			t.Errorf("filter %v", f)
		}
	})
	t.Run("ok/legacy-by-identifier", func(t *testing.T) {
		from := len(a.Calls())
		got, err := c.GetEntitlements(ctx, fxProduct, legacy)
		if err != nil || len(got) != 1 || got[0].Dimension != "standard" || got[0].Value != 1 || !got[0].ExpiresAt.IsZero() {
			t.Fatalf("%+v %v", got, err)
		}
		f := callsOf(a, marketstandin.TargetGetEntitlements, from)[0].Input["Filter"].(map[string]any)
		if len(f) != 1 || f["CUSTOMER_IDENTIFIER"].([]any)[0] != other.CustomerIdentifier {
			t.Errorf("filter %v", f)
		}
	})
	t.Run("ok/none", func(t *testing.T) {
		a.RemoveEntitlements(other)
		if got, err := c.GetEntitlements(ctx, fxProduct, other); err != nil || len(got) != 0 {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("fail/no-customer", func(t *testing.T) {
		from := len(a.Calls())
		if _, err := c.GetEntitlements(ctx, fxProduct, marketplace.AWSCustomer{AWSAccountID: fxAccount}); !errors.Is(err, fault.ErrInvalid) || len(a.Calls()) != from {
			t.Fatalf("%v, want ErrInvalid before any call", err)
		}
	})
	t.Run("fail/unavailable", func(t *testing.T) {
		a.FailNext(marketstandin.TargetGetEntitlements, 3)
		if _, err := c.GetEntitlements(ctx, fxProduct, cust); !errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("%v, want ErrUnavailable", err)
		}
	})
}
