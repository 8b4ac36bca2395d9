package marketplace

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	entypes "github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice/types"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	mmtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/fault"
)

// StatusUnprocessed is the Status of a record BatchMeterUsage returned in UnprocessedRecords
// (a failure on AWS's side: send it again) or did not answer at all. It is this package's
// word, not AWS's.
const StatusUnprocessed = "Unprocessed"

// maxMeterBatch is how many records one BatchMeterUsage call takes.
const maxMeterBatch = 25

// AWSClients is AWSMetering and AWSEntitlements on the AWS SDK's clients of AWS
// Marketplace Metering Service and Entitlement Service.
type AWSClients struct {
	metering     *marketplacemetering.Client
	entitlements *marketplaceentitlementservice.Client
}

var (
	_ AWSMetering     = (*AWSClients)(nil)
	_ AWSEntitlements = (*AWSClients)(nil)
)

// NewAWSClients returns the ports on the two clients. Both APIs live in us-east-1; the
// clients' region must be it.
func NewAWSClients(metering *marketplacemetering.Client, entitlements *marketplaceentitlementservice.Client) *AWSClients {
	return &AWSClients{metering: metering, entitlements: entitlements}
}

// ResolveCustomer implements AWSMetering. An invalid or expired token is ErrTokenRejected;
// a throttled or failing service (after the SDK's retries) wraps ErrUnavailable.
func (c *AWSClients) ResolveCustomer(ctx context.Context, token string) (AWSCustomer, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return AWSCustomer{}, fmt.Errorf("resolve customer: %w: the token is empty", ErrTokenRejected)
	}
	out, err := c.metering.ResolveCustomer(ctx, &marketplacemetering.ResolveCustomerInput{RegistrationToken: aws.String(token)})
	if err != nil {
		var invalid *mmtypes.InvalidTokenException
		var expired *mmtypes.ExpiredTokenException
		if errors.As(err, &invalid) || errors.As(err, &expired) {
			return AWSCustomer{}, fmt.Errorf("resolve customer: %w: %s", ErrTokenRejected, errorCode(err))
		}
		return AWSCustomer{}, awsError("ResolveCustomer", err)
	}
	return AWSCustomer{
		AWSAccountID:       strings.TrimSpace(aws.ToString(out.CustomerAWSAccountId)),
		LicenseARN:         strings.TrimSpace(aws.ToString(out.LicenseArn)),
		CustomerIdentifier: strings.TrimSpace(aws.ToString(out.CustomerIdentifier)),
		ProductCode:        strings.TrimSpace(aws.ToString(out.ProductCode)),
	}, nil
}

// BatchMeterUsage implements AWSMetering. A record of a customer with account and license is
// sent by CustomerAWSAccountId and LicenseArn in a request without ProductCode, as AWS
// requires of license-based metering (a ProductCode as well would bill it twice); a legacy
// customer's record by CustomerIdentifier in a request with productCode. Each kind goes in
// calls of at most 25 records.
//
// The results are in the order of records. Success and DuplicateRecord (the same customer,
// dimension and hour metered before, with another quantity) count as accepted: the hour is
// reported either way and sending it again changes nothing. CustomerNotSubscribed is not
// accepted and never will be. A record AWS left unprocessed is StatusUnprocessed.
//
// An error means nothing is known to be accepted. Sending the same records again is safe:
// AWS takes identical records once. A record without a customer, dimension or hour, or with
// a quantity outside int32, is a fault.ErrInvalid before anything is sent.
func (c *AWSClients) BatchMeterUsage(ctx context.Context, productCode string, records []UsageRecord) ([]UsageResult, error) {
	var byLicense, legacy []int
	for i, r := range records {
		switch {
		case strings.TrimSpace(r.Dimension) == "" || r.Hour.IsZero():
			return nil, fault.Newf(fault.ErrInvalid, "usage record %d has no dimension or hour", i)
		case r.Quantity < 0 || r.Quantity > math.MaxInt32:
			return nil, fault.Newf(fault.ErrInvalid, "usage record %d has quantity %d, outside what AWS takes (0 to %d)", i, r.Quantity, math.MaxInt32)
		case r.Customer.AWSAccountID != "" && r.Customer.LicenseARN != "":
			byLicense = append(byLicense, i)
		case r.Customer.CustomerIdentifier != "":
			legacy = append(legacy, i)
		default:
			return nil, fault.Newf(fault.ErrInvalid, "usage record %d names no AWS customer", i)
		}
	}
	if len(legacy) > 0 && strings.TrimSpace(productCode) == "" {
		return nil, fault.Newf(fault.ErrInvalid, "usage of a customer known by customer identifier needs the product code")
	}
	results := make([]UsageResult, len(records))
	for i, r := range records {
		results[i] = UsageResult{Record: r, Status: StatusUnprocessed}
	}
	for _, group := range []struct {
		product string
		indexes []int
	}{{"", byLicense}, {strings.TrimSpace(productCode), legacy}} {
		for chunk := range slices.Chunk(group.indexes, maxMeterBatch) {
			if err := c.meter(ctx, group.product, records, chunk, results); err != nil {
				return nil, err
			}
		}
	}
	return results, nil
}

// meter sends the records at indexes in one call and fills in their results.
func (c *AWSClients) meter(ctx context.Context, product string, records []UsageRecord, indexes []int, results []UsageResult) error {
	in := &marketplacemetering.BatchMeterUsageInput{UsageRecords: make([]mmtypes.UsageRecord, len(indexes))}
	if product != "" {
		in.ProductCode = aws.String(product)
	}
	// pending maps a record's identity to the indexes sent with it, to match AWS's answers,
	// which repeat the record but not its position.
	pending := map[string][]int{}
	for j, i := range indexes {
		r := records[i]
		u := mmtypes.UsageRecord{
			Dimension: aws.String(strings.TrimSpace(r.Dimension)),
			Quantity:  aws.Int32(int32(r.Quantity)),
			Timestamp: aws.Time(r.Hour.UTC()),
		}
		if product == "" {
			u.CustomerAWSAccountId = aws.String(strings.TrimSpace(r.Customer.AWSAccountID))
			u.LicenseArn = aws.String(strings.TrimSpace(r.Customer.LicenseARN))
		} else {
			u.CustomerIdentifier = aws.String(strings.TrimSpace(r.Customer.CustomerIdentifier))
		}
		in.UsageRecords[j] = u
		k := usageKey(u)
		pending[k] = append(pending[k], i)
	}
	out, err := c.metering.BatchMeterUsage(ctx, in)
	if err != nil {
		return awsError("BatchMeterUsage", err)
	}
	take := func(u *mmtypes.UsageRecord) (int, bool) {
		if u == nil {
			return 0, false
		}
		k := usageKey(*u)
		if len(pending[k]) == 0 {
			return 0, false
		}
		i := pending[k][0]
		pending[k] = pending[k][1:]
		return i, true
	}
	for _, res := range out.Results {
		i, ok := take(res.UsageRecord)
		if !ok {
			continue
		}
		results[i].Status = string(res.Status)
		results[i].ID = aws.ToString(res.MeteringRecordId)
		results[i].Accepted = res.Status == mmtypes.UsageRecordResultStatusSuccess || res.Status == mmtypes.UsageRecordResultStatusDuplicateRecord
	}
	for _, u := range out.UnprocessedRecords {
		if i, ok := take(&u); ok {
			results[i].Status = StatusUnprocessed
		}
	}
	return nil
}

// usageKey identifies a usage record the way AWS deduplicates it: customer (by license id,
// else customer identifier), dimension and time.
func usageKey(u mmtypes.UsageRecord) string {
	who := "c:" + strings.TrimSpace(aws.ToString(u.CustomerIdentifier))
	if l := aws.ToString(u.LicenseArn); l != "" {
		who = "l:" + LicenseID(l)
	}
	return who + "|" + strings.TrimSpace(aws.ToString(u.Dimension)) + "|" + strconv.FormatInt(aws.ToTime(u.Timestamp).Unix(), 10)
}

// GetEntitlements implements AWSEntitlements: the customer's entitlements to productCode,
// every page, filtered by account and license when the customer has them (else by customer
// identifier; AWS refuses both at once). A value is the entitlement's IntegerValue, 1 or 0
// for a BooleanValue, a DoubleValue rounded down, and 1 for a StringValue (the dimension is
// held, its value is not a count).
func (c *AWSClients) GetEntitlements(ctx context.Context, productCode string, cu AWSCustomer) ([]Entitlement, error) {
	var filter map[string][]string
	switch {
	case cu.AWSAccountID != "" && cu.LicenseARN != "":
		filter = map[string][]string{
			string(entypes.GetEntitlementFilterNameCustomerAwsAccountId): {strings.TrimSpace(cu.AWSAccountID)},
			string(entypes.GetEntitlementFilterNameLicenseArn):           {strings.TrimSpace(cu.LicenseARN)},
		}
	case cu.CustomerIdentifier != "":
		filter = map[string][]string{string(entypes.GetEntitlementFilterNameCustomerIdentifier): {strings.TrimSpace(cu.CustomerIdentifier)}}
	default:
		// Without a filter AWS lists every customer's entitlements.
		return nil, fault.Newf(fault.ErrInvalid, "entitlements are asked for a customer; this one has neither account and license nor customer identifier")
	}
	p := marketplaceentitlementservice.NewGetEntitlementsPaginator(c.entitlements, &marketplaceentitlementservice.GetEntitlementsInput{
		ProductCode: aws.String(strings.TrimSpace(productCode)),
		Filter:      filter,
	})
	var out []Entitlement
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsError("GetEntitlements", err)
		}
		for _, e := range page.Entitlements {
			out = append(out, Entitlement{
				Dimension: strings.TrimSpace(aws.ToString(e.Dimension)),
				Value:     entitlementValue(e.Value),
				ExpiresAt: aws.ToTime(e.ExpirationDate).UTC(),
			})
		}
	}
	return out, nil
}

func entitlementValue(v *entypes.EntitlementValue) int {
	switch {
	case v == nil:
		return 0
	case v.IntegerValue != nil:
		return int(*v.IntegerValue)
	case v.BooleanValue != nil:
		if *v.BooleanValue {
			return 1
		}
		return 0
	case v.DoubleValue != nil:
		return int(math.Max(math.Min(math.Floor(*v.DoubleValue), math.MaxInt32), math.MinInt32))
	case v.StringValue != nil:
		return 1
	}
	return 0
}

// awsError classifies an SDK error after its retries: throttling, a fault on AWS's side or no
// answer at all wraps ErrUnavailable (try later); anything else AWS refused is our request or
// configuration, and is returned as is (the SDK's error type stays reachable with errors.As,
// e.g. TimestampOutOfBoundsException).
func awsError(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("aws marketplace %s: %w", op, err)
	}
	var re *awshttp.ResponseError
	var ae smithy.APIError
	switch {
	case errors.As(err, &re) && re.HTTPStatusCode() >= 500,
		errors.As(err, &ae) && (ae.ErrorFault() == smithy.FaultServer || isThrottle(ae.ErrorCode())):
		return fmt.Errorf("aws marketplace %s: %w: %w", op, ErrUnavailable, err)
	case errors.As(err, &ae):
		return fmt.Errorf("aws marketplace %s: %w", op, err)
	}
	return fmt.Errorf("aws marketplace %s: %w: %w", op, ErrUnavailable, err)
}

func isThrottle(code string) bool {
	switch code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded":
		return true
	}
	return false
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
