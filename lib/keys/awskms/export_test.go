package awskms

import "fmt"

// ParseURI exposes parseURI to the URI table and fuzz tests.
var ParseURI = parseURI

// WithPendingWindow (tests only: the functions use the default) sets how many days a key stays pending deletion before KMS deletes it
// (MinPendingWindow, the default, to MaxPendingWindow). During the window the key cannot sign
// and an operator can still cancel the deletion. A value outside the range panics: it is a
// constant of the wiring in main, and a typo there should stop the function at start, not
// fail the first deletion.
func WithPendingWindow(days int) Option {
	if days < MinPendingWindow || days > MaxPendingWindow {
		panic(fmt.Sprintf("awskms: pending window of %d days is outside KMS's %d..%d", days, MinPendingWindow, MaxPendingWindow))
	}
	return func(b *Backend) { b.pendingWindow = int32(days) }
}
