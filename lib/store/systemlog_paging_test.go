package store

// SetLogPaging makes filtered log listings read round entries per query and at most rounds
// queries per page, so that a test shows short pages without writing thousands of entries.
// It returns the function that restores the defaults.
func SetLogPaging(round, rounds int) (restore func()) {
	r, n := logRound, logRounds
	logRound, logRounds = round, rounds
	return func() { logRound, logRounds = r, n }
}
