// Package marketstandin holds in-process stand-ins for the cloud marketplaces' APIs, for the
// local server and tests only (the layout test keeps it out of production code): AWS
// Marketplace Metering Service and Entitlement Service (AWS, in the aws*.go files) and the
// Azure Marketplace SaaS fulfilment API (the azure*.go files).
//
// A stand-in is an http.Handler that speaks the real wire protocol, so the code under test
// uses the real SDK clients and HTTP code pointed at it, never a mock of them. It keeps the
// marketplace's state (subscriptions, tokens, entitlements, usage) and has methods that act
// as the buyer would (subscribe, change a contract, cancel) and as the marketplace would
// when it fails (FailNext), and it records every call for tests to inspect.
//
// Where the real service's behaviour is documented, the stand-in follows the documentation
// (the SDK's API reference); where a stand-in is stricter than the service, its doc comment
// says so.
package marketstandin
