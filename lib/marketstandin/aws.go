package marketstandin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/marketplace"
)

// The operations the AWS stand-in serves, named by their X-Amz-Target.
const (
	TargetResolveCustomer = "AWSMPMeteringService.ResolveCustomer"
	TargetBatchMeterUsage = "AWSMPMeteringService.BatchMeterUsage"
	TargetMeterUsage      = "AWSMPMeteringService.MeterUsage"
	TargetRegisterUsage   = "AWSMPMeteringService.RegisterUsage"
	TargetGetEntitlements = "AWSMPEntitlementService.GetEntitlements"
)

// Protocols a call may arrive in (AWSCall.Protocol). The metering client (v1.45) speaks AWS
// JSON 1.1; the entitlement client (v1.40) speaks Smithy RPC v2 CBOR, and the service also
// answers JSON 1.1, which older clients use.
const (
	ProtocolJSON = "awsJson1_1"
	ProtocolCBOR = "rpcv2Cbor"
)

const (
	// tokenLifetime is how long a registration token resolves. AWS does not publish it;
	// its guidance is to resolve the token at once, and an hour is ample for that.
	tokenLifetime = time.Hour
	// meterWindow is how far in the past BatchMeterUsage takes a record ("Usage records
	// aren't accepted 24 hours or more after an event").
	meterWindow = 24 * time.Hour
	// maxBatch is BatchMeterUsage's limit of records a call.
	maxBatch = 25
	// maxEntitlementsPage is GetEntitlements' largest page (MaxResults).
	maxEntitlementsPage = 25
	// cborPath is where RPC v2 CBOR sends GetEntitlements.
	cborPath = "/service/AWSMPEntitlementService/operation/GetEntitlements"
)

// AWSCall is one call the stand-in answered.
type AWSCall struct {
	// Target is the operation (TargetResolveCustomer, ...), "" when the request named none.
	Target   string
	Protocol string
	// Input is the request as decoded: JSON objects as map[string]any, numbers (and
	// timestamps, in epoch seconds) as float64, in either protocol.
	Input map[string]any
	// Status is the HTTP status of the answer; ErrorType the error's __type, if any.
	Status    int
	ErrorType string
	At        time.Time
}

// AWSMeterRecord is a usage record BatchMeterUsage accepted.
type AWSMeterRecord struct {
	// Customer is the customer as the stand-in knows it (all four fields).
	Customer  marketplace.AWSCustomer
	Dimension string
	Quantity  int64
	// Hour is the record's Timestamp.
	Hour time.Time
	// ID is the MeteringRecordId it was answered with.
	ID string
}

type awsToken struct {
	customer *awsCustomer
	issued   time.Time
	expired  bool
}

type awsEntitlement struct {
	value   int
	expires time.Time
}

type awsCustomer struct {
	marketplace.AWSCustomer
	subscribed   bool
	entitlements map[string]awsEntitlement
}

type awsFailure struct {
	status  int
	errType string
}

// AWS is an in-process AWS Marketplace Metering Service and Entitlement Service: ResolveCustomer,
// BatchMeterUsage and GetEntitlements as the AWS SDK's clients call them, over the state its
// methods set up as a buyer would. Point both SDK clients' BaseEndpoint at one server of it
// (see AWSClients). It is safe for concurrent use.
type AWS struct {
	mu          sync.Mutex
	now         func() time.Time
	customers   []*awsCustomer
	tokens      map[string]*awsToken
	metered     map[string]int // (license, dimension, time) → index in records
	records     []AWSMeterRecord
	calls       []AWSCall
	failures    map[string][]awsFailure
	unprocessed int
	pageSize    int
	seq         int
}

// NewAWS returns a stand-in with no customers, on the system clock.
func NewAWS() *AWS {
	return &AWS{
		now:      time.Now,
		tokens:   map[string]*awsToken{},
		metered:  map[string]int{},
		failures: map[string][]awsFailure{},
		pageSize: maxEntitlementsPage,
	}
}

// SetClock makes now the stand-in's clock: token lifetimes and the metering window follow
// it.
func (a *AWS) SetClock(now func() time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = now
}

// Subscribe is a buyer in account subscribing to the product: it creates the customer (a new
// license, and a customer identifier as integrations from before Concurrent Agreements get),
// entitles it to quantity of the dimension plan when plan is not "" (a contract; 0 counts as
// 1), and issues the registration token AWS would post to the fulfilment URL.
func (a *AWS) Subscribe(account, productCode, plan string, quantity int) (token string, customer marketplace.AWSCustomer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := &awsCustomer{
		AWSCustomer: marketplace.AWSCustomer{
			AWSAccountID:       account,
			LicenseARN:         "arn:aws:license-manager::" + account + ":license:l-" + randomHex(16),
			CustomerIdentifier: randomIdentifier(),
			ProductCode:        productCode,
		},
		subscribed:   true,
		entitlements: map[string]awsEntitlement{},
	}
	a.customers = append(a.customers, c)
	if plan != "" {
		c.entitlements[plan] = awsEntitlement{value: max(quantity, 1)}
	}
	return a.issueToken(c), c.AWSCustomer
}

// NewToken issues another registration token for customer, as AWS does each time the buyer
// follows the product's "Set up your account" link; "" if the customer is unknown.
func (a *AWS) NewToken(customer marketplace.AWSCustomer) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.find(customer)
	if c == nil {
		return ""
	}
	return a.issueToken(c)
}

// ExpireTokens makes every token issued so far answer ExpiredTokenException.
func (a *AWS) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tokens {
		t.expired = true
	}
}

// SetEntitlement entitles customer to value of dimension until expires (zero: no end), as a
// contract change would; a customer the stand-in does not know is added, subscribed.
func (a *AWS) SetEntitlement(customer marketplace.AWSCustomer, dimension string, value int, expires time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.find(customer)
	if c == nil {
		c = &awsCustomer{AWSCustomer: customer, subscribed: true, entitlements: map[string]awsEntitlement{}}
		a.customers = append(a.customers, c)
	}
	c.entitlements[dimension] = awsEntitlement{value: value, expires: expires}
}

// RemoveEntitlements takes every entitlement of customer away (a contract that ended).
func (a *AWS) RemoveEntitlements(customer marketplace.AWSCustomer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.find(customer); c != nil {
		clear(c.entitlements)
	}
}

// Unsubscribe ends customer's subscription: BatchMeterUsage answers its records
// CustomerNotSubscribed from now on. Its entitlements stay until RemoveEntitlements.
func (a *AWS) Unsubscribe(customer marketplace.AWSCustomer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.find(customer); c != nil {
		c.subscribed = false
	}
}

// FailNext makes the next n calls of target fail with 500 InternalServiceErrorException, as
// the service does now and then (the SDK retries it).
func (a *AWS) FailNext(target string, n int) {
	a.FailNextWith(target, n, http.StatusInternalServerError, "InternalServiceErrorException")
}

// FailNextWith makes the next n calls of target fail with status and the error type errType
// (e.g. 400 "ThrottlingException").
func (a *AWS) FailNextWith(target string, n, status int, errType string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.failures[target] = append(a.failures[target], awsFailure{status, errType})
	}
}

// UnprocessNext makes BatchMeterUsage return the next n records it is sent in
// UnprocessedRecords, as it does for a failure on its side.
func (a *AWS) UnprocessNext(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unprocessed += n
}

// SetEntitlementsPageSize makes GetEntitlements answer at most n entitlements a page (1 to
// 25; 25 is the default and the service's largest page), so that tests see several pages.
func (a *AWS) SetEntitlementsPageSize(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pageSize = min(max(n, 1), maxEntitlementsPage)
}

// Calls returns every call answered so far, in order.
func (a *AWS) Calls() []AWSCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// MeterRecords returns every usage record accepted so far, each once, in order.
func (a *AWS) MeterRecords() []AWSMeterRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.records)
}

// issueToken returns a new token of c. Real tokens are long base64 strings, with "+", "/"
// and "=" that a form post must encode; these are too.
func (a *AWS) issueToken(c *awsCustomer) string {
	b := make([]byte, 50)
	_, _ = rand.Read(b)
	t := base64.StdEncoding.EncodeToString(b)
	a.tokens[t] = &awsToken{customer: c, issued: a.now()}
	return t
}

// find is the customer with customer's license (by its id) or, for one without a license,
// its customer identifier.
func (a *AWS) find(customer marketplace.AWSCustomer) *awsCustomer {
	for _, c := range a.customers {
		if customer.LicenseARN != "" && marketplace.LicenseID(c.LicenseARN) == marketplace.LicenseID(customer.LicenseARN) ||
			customer.LicenseARN == "" && customer.CustomerIdentifier != "" && c.CustomerIdentifier == customer.CustomerIdentifier {
			return c
		}
	}
	return nil
}

// apiError is an error answer: its HTTP status, __type and message.
type apiError struct {
	status  int
	errType string
	message string
}

func clientError(errType, format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, errType, fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one call in either protocol.
func (a *AWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	proto, target := ProtocolJSON, r.Header.Get("X-Amz-Target")
	if r.URL.Path == cborPath {
		proto, target = ProtocolCBOR, TargetGetEntitlements
	}
	input, aerr := decodeRequest(r, proto)
	a.mu.Lock()
	defer a.mu.Unlock()
	call := AWSCall{Target: target, Protocol: proto, Input: input, At: a.now()}
	var out map[string]any
	switch {
	case aerr != nil:
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		aerr = clientError("MissingAuthenticationTokenException", "Missing Authentication Token")
	case len(a.failures[target]) > 0:
		f := a.failures[target][0]
		a.failures[target] = a.failures[target][1:]
		aerr = &apiError{f.status, f.errType, "The stand-in was told to fail this call."}
	default:
		switch target {
		case TargetResolveCustomer:
			out, aerr = a.resolveCustomer(input)
		case TargetBatchMeterUsage:
			out, aerr = a.batchMeterUsage(input)
		case TargetGetEntitlements:
			out, aerr = a.getEntitlements(input)
		case TargetMeterUsage, TargetRegisterUsage:
			aerr = clientError("PlatformNotSupportedException", "%s is for AMI and container products; a SaaS product meters with BatchMeterUsage.", strings.TrimPrefix(target, "AWSMPMeteringService."))
		default:
			aerr = clientError("UnknownOperationException", "The operation %q is not known.", target)
		}
	}
	a.seq++
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("standin-%08d", a.seq))
	if aerr != nil {
		call.Status, call.ErrorType = aerr.status, aerr.errType
		a.calls = append(a.calls, call)
		writeResponse(w, proto, aerr.status, map[string]any{"__type": aerr.errType, "message": aerr.message})
		return
	}
	call.Status = http.StatusOK
	a.calls = append(a.calls, call)
	writeResponse(w, proto, http.StatusOK, out)
}

// decodeRequest reads the request body of proto into a map.
func decodeRequest(r *http.Request, proto string) (map[string]any, *apiError) {
	if r.Method != http.MethodPost {
		return nil, &apiError{http.StatusMethodNotAllowed, "UnknownOperationException", "Only POST is served."}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, clientError("SerializationException", "The body could not be read.")
	}
	var in map[string]any
	if proto == ProtocolCBOR {
		if r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
			return nil, clientError("UnknownOperationException", "The request has no Smithy-Protocol: rpc-v2-cbor header.")
		}
		in, err = decodeCBOR(body)
	} else {
		if r.URL.Path != "/" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
			return nil, clientError("UnknownOperationException", "A JSON 1.1 call is a POST to / with Content-Type application/x-amz-json-1.1.")
		}
		in, err = decodeJSON(body)
	}
	if err != nil {
		return nil, clientError("SerializationException", "The body is not a request: %v", err)
	}
	return in, nil
}

func (a *AWS) resolveCustomer(in map[string]any) (map[string]any, *apiError) {
	token, _ := in["RegistrationToken"].(string)
	t := a.tokens[token]
	switch {
	case t == nil:
		return nil, clientError("InvalidTokenException", "Registration token is invalid")
	case t.expired || !a.now().Before(t.issued.Add(tokenLifetime)):
		return nil, clientError("ExpiredTokenException", "Registration token is expired")
	}
	c := t.customer.AWSCustomer
	return omitEmpty(map[string]any{
		"CustomerIdentifier":   c.CustomerIdentifier,
		"CustomerAWSAccountId": c.AWSAccountID,
		"LicenseArn":           c.LicenseARN,
		"ProductCode":          c.ProductCode,
	}), nil
}

// usageRecord is a UsageRecord of a BatchMeterUsage request.
type usageRecord struct {
	raw                             map[string]any
	account, license, customer, dim string
	quantity                        int64
	at                              time.Time
}

// batchMeterUsage checks the whole batch first, as the service does (a record out of the
// time window fails the call), then answers each record.
//
// It is stricter than the service in one way: a request that names a ProductCode and has
// records with a LicenseArn is refused (ValidationException). The service takes it, and
// bills such a customer twice when the same usage is also sent by license, which is the
// mistake this catches.
func (a *AWS) batchMeterUsage(in map[string]any) (map[string]any, *apiError) {
	product, _ := in["ProductCode"].(string)
	list, _ := in["UsageRecords"].([]any)
	if len(list) == 0 || len(list) > maxBatch {
		return nil, clientError("ValidationException", "UsageRecords must hold 1 to %d records; it holds %d.", maxBatch, len(list))
	}
	now := a.now()
	records := make([]usageRecord, len(list))
	for i, v := range list {
		m, _ := v.(map[string]any)
		r := usageRecord{raw: m}
		r.account, _ = m["CustomerAWSAccountId"].(string)
		r.license, _ = m["LicenseArn"].(string)
		r.customer, _ = m["CustomerIdentifier"].(string)
		r.dim, _ = m["Dimension"].(string)
		q, _ := m["Quantity"].(float64)
		ts, ok := m["Timestamp"].(float64)
		switch {
		case !ok:
			return nil, clientError("ValidationException", "Record %d has no Timestamp.", i)
		case r.dim == "":
			return nil, clientError("InvalidUsageDimensionException", "Record %d has no Dimension.", i)
		case q < 0 || q > math.MaxInt32 || q != math.Trunc(q):
			return nil, clientError("ValidationException", "Record %d's Quantity %v is not an int32 of at least 0.", i, q)
		case r.license != "" && product != "":
			return nil, clientError("ValidationException", "Record %d has a LicenseArn and the request a ProductCode: send records by license without ProductCode (the service would bill them twice).", i)
		case r.license == "" && r.customer == "":
			return nil, clientError("ValidationException", "Record %d names no customer (LicenseArn with CustomerAWSAccountId, or CustomerIdentifier).", i)
		case r.license == "" && product == "":
			return nil, clientError("InvalidProductCodeException", "Record %d names a CustomerIdentifier; the request needs its ProductCode.", i)
		}
		r.quantity = int64(q)
		r.at = epoch(ts)
		if !r.at.After(now.Add(-meterWindow)) {
			return nil, clientError("TimestampOutOfBoundsException", "Record %d's Timestamp %s is 24 hours or more in the past.", i, r.at.UTC().Format(time.RFC3339))
		}
		records[i] = r
	}
	results, unprocessed := []any{}, []any{}
	for _, r := range records {
		if a.unprocessed > 0 {
			a.unprocessed--
			unprocessed = append(unprocessed, echo(r))
			continue
		}
		c := a.meteredCustomer(r, product)
		if c == nil {
			results = append(results, map[string]any{"Status": "CustomerNotSubscribed", "UsageRecord": echo(r)})
			continue
		}
		key := marketplace.LicenseID(c.LicenseARN) + "|" + r.dim + "|" + strconv.FormatInt(r.at.Unix(), 10)
		i, seen := a.metered[key]
		switch {
		case !seen:
			rec := AWSMeterRecord{Customer: c.AWSCustomer, Dimension: r.dim, Quantity: r.quantity, Hour: r.at.UTC(), ID: randomUUID()}
			a.metered[key] = len(a.records)
			a.records = append(a.records, rec)
			results = append(results, map[string]any{"Status": "Success", "MeteringRecordId": rec.ID, "UsageRecord": echo(r)})
		case a.records[i].Quantity == r.quantity:
			// "Identical requests are idempotent and can be retried with the same records."
			results = append(results, map[string]any{"Status": "Success", "MeteringRecordId": a.records[i].ID, "UsageRecord": echo(r)})
		default:
			// "A previously metered UsageRecord had the same customer, dimension, and time,
			// but a different quantity."
			results = append(results, map[string]any{"Status": "DuplicateRecord", "UsageRecord": echo(r)})
		}
	}
	return map[string]any{"Results": results, "UnprocessedRecords": unprocessed}, nil
}

// meteredCustomer is the subscribed customer r names, nil when none is.
func (a *AWS) meteredCustomer(r usageRecord, product string) *awsCustomer {
	var c *awsCustomer
	if r.license != "" {
		c = a.find(marketplace.AWSCustomer{LicenseARN: r.license})
		if c != nil && r.account != c.AWSAccountID {
			return nil
		}
	} else {
		c = a.find(marketplace.AWSCustomer{CustomerIdentifier: r.customer})
		if c != nil && c.ProductCode != product {
			return nil
		}
	}
	if c == nil || !c.subscribed {
		return nil
	}
	return c
}

// echo is the UsageRecord a result repeats: the record as sent.
func echo(r usageRecord) map[string]any {
	out := map[string]any{}
	for k, v := range r.raw {
		out[k] = v
	}
	out["Timestamp"] = r.at
	return out
}

// The filters GetEntitlements takes and the customer field each matches.
var entitlementFilters = map[string]func(c *awsCustomer, dim string) string{
	"CUSTOMER_IDENTIFIER":     func(c *awsCustomer, _ string) string { return c.CustomerIdentifier },
	"CUSTOMER_AWS_ACCOUNT_ID": func(c *awsCustomer, _ string) string { return c.AWSAccountID },
	"LICENSE_ARN":             func(c *awsCustomer, _ string) string { return c.LicenseARN },
	"DIMENSION":               func(_ *awsCustomer, dim string) string { return dim },
}

// getEntitlements lists the entitlements of the product that pass every filter (a filter
// passes when the field is one of its values), a page at a time. A full page carries a
// NextToken even when nothing follows, so the caller sees the empty last page the service's
// documentation warns of.
func (a *AWS) getEntitlements(in map[string]any) (map[string]any, *apiError) {
	product, _ := in["ProductCode"].(string)
	if product == "" {
		return nil, clientError("InvalidParameterException", "ProductCode is required.")
	}
	filters := map[string][]string{}
	fm, _ := in["Filter"].(map[string]any)
	for k, v := range fm {
		if entitlementFilters[k] == nil {
			return nil, clientError("InvalidParameterException", "%q is not a filter.", k)
		}
		vs, _ := v.([]any)
		for _, s := range vs {
			if s, ok := s.(string); ok {
				filters[k] = append(filters[k], s)
			}
		}
	}
	if filters["CUSTOMER_IDENTIFIER"] != nil && filters["CUSTOMER_AWS_ACCOUNT_ID"] != nil {
		return nil, clientError("InvalidParameterException", "CustomerIdentifier and CustomerAWSAccountId are mutually exclusive.")
	}
	size := a.pageSize
	if m, ok := in["MaxResults"].(float64); ok {
		if m < 1 || m > maxEntitlementsPage {
			return nil, clientError("InvalidParameterException", "MaxResults must be 1 to %d.", maxEntitlementsPage)
		}
		size = min(size, int(m))
	}
	offset := 0
	if tok, _ := in["NextToken"].(string); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "standin-page-"))
		if err != nil || !strings.HasPrefix(tok, "standin-page-") || n < 0 {
			return nil, clientError("InvalidParameterException", "The NextToken is not valid.")
		}
		offset = n
	}
	var all []any
	for _, c := range a.customers {
		if c.ProductCode != product {
			continue
		}
		for _, dim := range slices.Sorted(maps.Keys(c.entitlements)) {
			if !passes(filters, c, dim) {
				continue
			}
			e := c.entitlements[dim]
			item := omitEmpty(map[string]any{
				"CustomerIdentifier":   c.CustomerIdentifier,
				"CustomerAWSAccountId": c.AWSAccountID,
				"LicenseArn":           c.LicenseARN,
				"ProductCode":          c.ProductCode,
				"Dimension":            dim,
			})
			item["Value"] = map[string]any{"IntegerValue": float64(e.value)}
			if !e.expires.IsZero() {
				item["ExpirationDate"] = e.expires
			}
			all = append(all, item)
		}
	}
	page := all[min(offset, len(all)):min(offset+size, len(all))]
	out := map[string]any{"Entitlements": append([]any{}, page...)}
	if len(page) == size {
		out["NextToken"] = "standin-page-" + strconv.Itoa(offset+size)
	}
	return out, nil
}

func passes(filters map[string][]string, c *awsCustomer, dim string) bool {
	for k, vs := range filters {
		if !slices.Contains(vs, entitlementFilters[k](c, dim)) {
			return false
		}
	}
	return true
}

func omitEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// epoch is seconds since 1970 as a time, to the millisecond.
func epoch(s float64) time.Time {
	return time.UnixMilli(int64(math.Round(s * 1000))).UTC()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomIdentifier is a customer identifier of the legacy shape (11 letters and digits).
func randomIdentifier() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 11)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func randomUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
