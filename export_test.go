package goray

import "context"

// OwnerCounts returns, for tests, how many results the core of ctx's
// runtime still waits for and how many of its objects other holders
// borrow: both return to what they were once a test's work is done.
func OwnerCounts(ctx context.Context) (pending, lent int, err error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return 0, 0, err
	}
	rt.table.mu.Lock()
	lent = len(rt.table.lent)
	rt.table.mu.Unlock()
	return rt.owner.PendingCount(), lent, nil
}
