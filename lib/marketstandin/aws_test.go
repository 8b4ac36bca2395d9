package marketstandin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/schemas"
	entypes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	mmtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/marketstandin"
)

const (
	account = "111122223333"
	product = "prodcode-signum-standard"
)

// clock is a settable clock for the stand-in.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start returns a stand-in on a clock at 2026-12-03 14:30 UTC and the SDK's clients of it.
func start(t *testing.T) (*marketstandin.AWS, *clock, *marketplacemetering.Client, *marketplaceentitlementservice.Client, string) {
	t.Helper()
	a, url := marketstandin.StartAWS(t)
	c := &clock{t: time.Date(2026, 12, 3, 14, 30, 0, 0, time.UTC)}
	a.SetClock(c.now)
	m, e := marketstandin.AWSClients(url)
	return a, c, m, e, url
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestResolveCustomer(t *testing.T) {
	a, clk, m, _, _ := start(t)
	ctx := context.Background()
	token, cust := a.Subscribe(account, product, "standard", 0)
	if !strings.HasPrefix(cust.LicenseARN, "arn:aws:license-manager::"+account+":license:l-") || cust.CustomerIdentifier == "" || cust.AWSAccountID != account || cust.ProductCode != product {
		t.Fatalf("customer %+v", cust)
	}
	if !strings.ContainsAny(token, "=") || len(token) < 60 {
		t.Errorf("token %q is not long base64", token)
	}
	t.Run("ok/resolves-and-again", func(t *testing.T) {
		for range 2 { // tokens resolve for their whole lifetime, not once
			out, err := m.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(token)})
			if err != nil {
				t.Fatal(err)
			}
			got := marketplace.AWSCustomer{AWSAccountID: aws.ToString(out.CustomerAWSAccountId), LicenseARN: aws.ToString(out.LicenseArn),
				CustomerIdentifier: aws.ToString(out.CustomerIdentifier), ProductCode: aws.ToString(out.ProductCode)}
			if got != cust {
				t.Fatalf("resolved %+v, want %+v", got, cust)
			}
		}
	})
	t.Run("fail/unknown-token", func(t *testing.T) {
		_, err := m.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String("bm90IGEgdG9rZW4=")})
		var inv *mmtypes.InvalidTokenException
		if !errors.As(err, &inv) {
			t.Fatalf("%v, want InvalidTokenException", err)
		}
	})
	t.Run("fail/after-an-hour", func(t *testing.T) {
		clk.add(time.Hour)
		_, err := m.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(token)})
		var exp *mmtypes.ExpiredTokenException
		if !errors.As(err, &exp) {
			t.Fatalf("%v, want ExpiredTokenException", err)
		}
	})
	t.Run("ok/new-token-then-expired-by-hand", func(t *testing.T) {
		again := a.NewToken(cust)
		if _, err := m.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(again)}); err != nil {
			t.Fatal(err)
		}
		a.ExpireTokens()
		_, err := m.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(again)})
		if errorCode(err) != "ExpiredTokenException" {
			t.Fatalf("%v, want ExpiredTokenException", err)
		}
	})
}

func record(c marketplace.AWSCustomer, dim string, q int32, at time.Time) mmtypes.UsageRecord {
	return mmtypes.UsageRecord{CustomerAWSAccountId: aws.String(c.AWSAccountID), LicenseArn: aws.String(c.LicenseARN),
		Dimension: aws.String(dim), Quantity: aws.Int32(q), Timestamp: aws.Time(at)}
}

func TestBatchMeterUsage(t *testing.T) {
	a, clk, m, _, _ := start(t)
	ctx := context.Background()
	_, cust := a.Subscribe(account, product, "", 0)
	_, other := a.Subscribe("444455556666", product, "", 0)
	hour := clk.now().Truncate(time.Hour).Add(-time.Hour)
	meter := func(pc string, recs ...mmtypes.UsageRecord) (*marketplacemetering.BatchMeterUsageOutput, error) {
		in := &marketplacemetering.BatchMeterUsageInput{UsageRecords: recs}
		if pc != "" {
			in.ProductCode = aws.String(pc)
		}
		return m.BatchMeterUsage(ctx, in)
	}
	statuses := func(out *marketplacemetering.BatchMeterUsageOutput) []string {
		var s []string
		for _, r := range out.Results {
			s = append(s, string(r.Status))
		}
		return s
	}

	out, err := meter("", record(cust, "signatures", 42, hour), record(other, "signatures", 7, hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(out); len(got) != 2 || got[0] != "Success" || got[1] != "Success" || aws.ToString(out.Results[0].MeteringRecordId) == "" {
		t.Fatalf("statuses %v", got)
	}
	first := aws.ToString(out.Results[0].MeteringRecordId)
	if echo := out.Results[0].UsageRecord; echo == nil || aws.ToString(echo.LicenseArn) != cust.LicenseARN || !aws.ToTime(echo.Timestamp).Equal(hour) || aws.ToInt32(echo.Quantity) != 42 {
		t.Errorf("echo %+v", echo)
	}

	t.Run("ok/identical-record-is-idempotent", func(t *testing.T) {
		out, err := meter("", record(cust, "signatures", 42, hour))
		if err != nil || statuses(out)[0] != "Success" || aws.ToString(out.Results[0].MeteringRecordId) != first {
			t.Fatalf("%v %v", statuses(out), err)
		}
	})
	t.Run("ok/other-quantity-is-duplicate", func(t *testing.T) {
		out, err := meter("", record(cust, "signatures", 43, hour))
		if err != nil || statuses(out)[0] != "DuplicateRecord" {
			t.Fatalf("%v %v", statuses(out), err)
		}
	})
	t.Run("ok/legacy-customer-by-identifier", func(t *testing.T) {
		out, err := meter(product, mmtypes.UsageRecord{CustomerIdentifier: aws.String(cust.CustomerIdentifier), Dimension: aws.String("certificates"),
			Quantity: aws.Int32(3), Timestamp: aws.Time(hour)})
		if err != nil || statuses(out)[0] != "Success" {
			t.Fatalf("%v %v", statuses(out), err)
		}
	})
	t.Run("ok/unknown-and-unsubscribed-customers", func(t *testing.T) {
		a.Unsubscribe(other)
		stranger := marketplace.AWSCustomer{AWSAccountID: account, LicenseARN: "arn:aws:license-manager::111122223333:license:l-ffffffffffffffffffffffffffffffff"}
		wrongAccount := marketplace.AWSCustomer{AWSAccountID: "999999999999", LicenseARN: cust.LicenseARN}
		out, err := meter("", record(other, "signatures", 1, hour.Add(time.Hour)), record(stranger, "signatures", 1, hour), record(wrongAccount, "users", 1, hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range statuses(out) {
			if s != "CustomerNotSubscribed" {
				t.Fatalf("statuses %v", statuses(out))
			}
		}
	})
	t.Run("ok/unprocessed", func(t *testing.T) {
		a.UnprocessNext(1)
		out, err := meter("", record(cust, "users", 5, hour), record(cust, "certificates", 2, hour))
		if err != nil || len(out.UnprocessedRecords) != 1 || aws.ToString(out.UnprocessedRecords[0].Dimension) != "users" || len(out.Results) != 1 {
			t.Fatalf("%+v %v", out, err)
		}
	})
	for name, c := range map[string]struct {
		pc   string
		recs []mmtypes.UsageRecord
		code string
	}{
		"fail/24-hours-old":               {"", []mmtypes.UsageRecord{record(cust, "signatures", 1, hour), record(cust, "signatures", 1, clk.now().Add(-24*time.Hour))}, "TimestampOutOfBoundsException"},
		"fail/product-code-with-license":  {product, []mmtypes.UsageRecord{record(cust, "signatures", 1, hour)}, "ValidationException"},
		"fail/identifier-without-product": {"", []mmtypes.UsageRecord{{CustomerIdentifier: aws.String(cust.CustomerIdentifier), Dimension: aws.String("signatures"), Quantity: aws.Int32(1), Timestamp: aws.Time(hour)}}, "InvalidProductCodeException"},
		"fail/no-customer":                {"", []mmtypes.UsageRecord{{Dimension: aws.String("signatures"), Quantity: aws.Int32(1), Timestamp: aws.Time(hour)}}, "ValidationException"},
		"fail/26-records": {"", func() []mmtypes.UsageRecord {
			r := make([]mmtypes.UsageRecord, 26)
			for i := range r {
				r[i] = record(cust, "signatures", 1, hour)
			}
			return r
		}(), "ValidationException"},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(a.MeterRecords())
			_, err := meter(c.pc, c.recs...)
			if errorCode(err) != c.code {
				t.Fatalf("%v, want %s", err, c.code)
			}
			if len(a.MeterRecords()) != before {
				t.Error("a refused batch recorded usage")
			}
		})
	}
	recs := a.MeterRecords()
	want := []struct {
		c   marketplace.AWSCustomer
		dim string
		q   int64
	}{{cust, "signatures", 42}, {other, "signatures", 7}, {cust, "certificates", 3}}
	if len(recs) != len(want) {
		t.Fatalf("records %+v", recs)
	}
	for i, w := range want {
		if recs[i].Customer != w.c || recs[i].Dimension != w.dim || recs[i].Quantity != w.q || !recs[i].Hour.Equal(hour) || recs[i].ID == "" {
			t.Errorf("record %d: %+v, want %+v", i, recs[i], w)
		}
	}
}

func TestGetEntitlements(t *testing.T) {
	a, clk, _, e, url := start(t)
	ctx := context.Background()
	_, cust := a.Subscribe(account, product, "enterprise", 25)
	_, other := a.Subscribe("444455556666", product, "standard", 0)
	expires := clk.now().Add(365 * 24 * time.Hour).Truncate(time.Second)
	a.SetEntitlement(cust, "users", 30, expires)
	_, _ = a.Subscribe(account, "prodcode-other", "standard", 0)

	// jsonClient is the entitlement client speaking AWS JSON 1.1, as clients before v1.40 did.
	_, e11 := marketstandin.AWSClients(url)
	e11 = marketplaceentitlementservice.New(e11.Options(), func(o *marketplaceentitlementservice.Options) {
		o.Protocol = awsjson.New11(schemas.AWSMPEntitlementService)
	})
	list := func(t *testing.T, c *marketplaceentitlementservice.Client, filter map[string][]string) []entypes.Entitlement {
		t.Helper()
		var all []entypes.Entitlement
		p := marketplaceentitlementservice.NewGetEntitlementsPaginator(c, &marketplaceentitlementservice.GetEntitlementsInput{ProductCode: aws.String(product), Filter: filter})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page.Entitlements...)
		}
		return all
	}
	byLicense := map[string][]string{"CUSTOMER_AWS_ACCOUNT_ID": {account}, "LICENSE_ARN": {cust.LicenseARN}}
	for _, proto := range []struct {
		name string
		c    *marketplaceentitlementservice.Client
	}{{"cbor", e}, {"json", e11}} {
		t.Run("ok/"+proto.name+"/by-account-and-license", func(t *testing.T) {
			got := list(t, proto.c, byLicense)
			if len(got) != 2 || aws.ToString(got[0].Dimension) != "enterprise" || aws.ToInt32(got[0].Value.IntegerValue) != 25 || got[0].ExpirationDate != nil ||
				aws.ToString(got[1].Dimension) != "users" || aws.ToInt32(got[1].Value.IntegerValue) != 30 || !aws.ToTime(got[1].ExpirationDate).Equal(expires) ||
				aws.ToString(got[1].LicenseArn) != cust.LicenseARN || aws.ToString(got[1].CustomerAWSAccountId) != account || aws.ToString(got[1].ProductCode) != product {
				t.Fatalf("%+v", got)
			}
		})
		t.Run("ok/"+proto.name+"/by-identifier-and-dimension", func(t *testing.T) {
			got := list(t, proto.c, map[string][]string{"CUSTOMER_IDENTIFIER": {other.CustomerIdentifier, "nobody"}, "DIMENSION": {"standard"}})
			if len(got) != 1 || aws.ToString(got[0].CustomerIdentifier) != other.CustomerIdentifier || aws.ToInt32(got[0].Value.IntegerValue) != 1 {
				t.Fatalf("%+v", got)
			}
		})
	}
	t.Run("ok/pages", func(t *testing.T) {
		a.SetEntitlementsPageSize(1)
		defer a.SetEntitlementsPageSize(25)
		before := len(a.Calls())
		if got := list(t, e, byLicense); len(got) != 2 {
			t.Fatalf("%+v", got)
		}
		// Two full pages, then the empty one a full page's NextToken leads to.
		if n := len(a.Calls()) - before; n != 3 {
			t.Errorf("%d calls, want 3", n)
		}
	})
	t.Run("ok/removed", func(t *testing.T) {
		a.RemoveEntitlements(cust)
		if got := list(t, e, byLicense); len(got) != 0 {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("fail/identifier-and-account", func(t *testing.T) {
		_, err := e.GetEntitlements(ctx, &marketplaceentitlementservice.GetEntitlementsInput{ProductCode: aws.String(product),
			Filter: map[string][]string{"CUSTOMER_IDENTIFIER": {"x"}, "CUSTOMER_AWS_ACCOUNT_ID": {account}}})
		var inv *entypes.InvalidParameterException
		if !errors.As(err, &inv) {
			t.Fatalf("%v, want InvalidParameterException", err)
		}
	})
	t.Run("fail/bad-token", func(t *testing.T) {
		_, err := e.GetEntitlements(ctx, &marketplaceentitlementservice.GetEntitlementsInput{ProductCode: aws.String(product), NextToken: aws.String("x")})
		if errorCode(err) != "InvalidParameterException" {
			t.Fatalf("%v", err)
		}
	})
	// The stand-in records calls of both protocols in one form.
	var protos []string
	for _, c := range a.Calls() {
		if c.Target != marketstandin.TargetGetEntitlements || c.Status != 200 && c.ErrorType != "InvalidParameterException" {
			t.Fatalf("call %+v", c)
		}
		if f, _ := c.Input["Filter"].(map[string]any); f != nil && f["LICENSE_ARN"] != nil {
			if l, _ := f["LICENSE_ARN"].([]any); len(l) != 1 || l[0] != cust.LicenseARN || c.Input["ProductCode"] != product {
				t.Fatalf("input %+v", c.Input)
			}
			protos = append(protos, c.Protocol)
		}
	}
	if !strings.Contains(strings.Join(protos, " "), marketstandin.ProtocolCBOR) || !strings.Contains(strings.Join(protos, " "), marketstandin.ProtocolJSON) {
		t.Errorf("protocols %v", protos)
	}
}

// TestFailNext: injected failures are answered as the service's, and the SDK retries a 500.
func TestFailNext(t *testing.T) {
	a, _, m, e, _ := start(t)
	ctx := context.Background()
	token, _ := a.Subscribe(account, product, "standard", 0)
	a.FailNext(marketstandin.TargetResolveCustomer, 2)
	if _, err := m.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(token)}); err != nil {
		t.Fatalf("the third attempt should succeed: %v", err)
	}
	var got []int
	for _, c := range a.Calls() {
		got = append(got, c.Status)
	}
	if len(got) != 3 || got[0] != 500 || got[1] != 500 || got[2] != 200 {
		t.Fatalf("statuses %v", got)
	}
	a.FailNext(marketstandin.TargetGetEntitlements, 3)
	_, err := e.GetEntitlements(ctx, &marketplaceentitlementservice.GetEntitlementsInput{ProductCode: aws.String(product)})
	var ise *entypes.InternalServiceErrorException
	if !errors.As(err, &ise) {
		t.Fatalf("%v, want InternalServiceErrorException", err)
	}
	a.FailNextWith(marketstandin.TargetBatchMeterUsage, 3, 400, "ThrottlingException")
	_, err = m.BatchMeterUsage(ctx, &marketplacemetering.BatchMeterUsageInput{UsageRecords: []mmtypes.UsageRecord{{CustomerIdentifier: aws.String("c"), Dimension: aws.String("d"), Timestamp: aws.Time(time.Now())}}})
	var thr *mmtypes.ThrottlingException
	if !errors.As(err, &thr) {
		t.Fatalf("%v, want ThrottlingException", err)
	}
	_, err = m.MeterUsage(ctx, &marketplacemetering.MeterUsageInput{ProductCode: aws.String(product), Timestamp: aws.Time(time.Now()), UsageDimension: aws.String("d")})
	var pns *mmtypes.PlatformNotSupportedException
	if !errors.As(err, &pns) {
		t.Fatalf("%v, want PlatformNotSupportedException", err)
	}
}

// TestWire checks the raw HTTP answers: what a client other than the SDK's would see.
func TestWire(t *testing.T) {
	_, url := marketstandin.StartAWS(t)
	post := func(target, auth, body string) (int, http.Header, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return resp.StatusCode, resp.Header, m
	}
	const sig = "AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/aws-marketplace/aws4_request, SignedHeaders=host, Signature=00"
	status, h, body := post(marketstandin.TargetResolveCustomer, sig, `{"RegistrationToken":"nope"}`)
	if status != 400 || h.Get("Content-Type") != "application/x-amz-json-1.1" || body["__type"] != "InvalidTokenException" || body["message"] == "" || h.Get("X-Amzn-Requestid") == "" {
		t.Errorf("%d %v %v", status, h, body)
	}
	if status, _, body := post(marketstandin.TargetResolveCustomer, "", `{"RegistrationToken":"nope"}`); status != 400 || body["__type"] != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned: %d %v", status, body)
	}
	if status, _, body := post("AWSMPMeteringService.Nope", sig, `{}`); status != 400 || body["__type"] != "UnknownOperationException" {
		t.Errorf("unknown operation: %d %v", status, body)
	}
	if status, _, body := post(marketstandin.TargetGetEntitlements, sig, `{"ProductCode":"p"}`); status != 200 || body["Entitlements"] == nil {
		t.Errorf("JSON 1.1 GetEntitlements: %d %v", status, body)
	}
	if status, _, body := post(marketstandin.TargetBatchMeterUsage, sig, `[]`); status != 400 || body["__type"] != "SerializationException" {
		t.Errorf("not an object: %d %v", status, body)
	}
}
