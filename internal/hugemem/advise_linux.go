package hugemem

import "syscall"

// adviseHuge asks for huge pages over b, which starts and ends on huge page
// boundaries. An error (a kernel without transparent huge pages) leaves the
// memory as it was, which is all the advice could change.
func adviseHuge(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }
