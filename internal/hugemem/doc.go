// Package hugemem allocates large byte buffers that the kernel may back with
// huge pages.
//
// A process's first write to each page of fresh memory costs a page fault.
// With 4 KiB pages a gigabyte is 262,144 faults, and in some virtual
// machines each costs over 10 µs: fresh memory is handed out at 0.3 GB/s,
// slower than a pull of an object from another node. Advising the kernel
// that a large buffer should be backed by 2 MiB transparent huge pages cuts
// the faults 512-fold; where the kernel honours the advice (Linux with
// transparent_hugepage set to "madvise" or "always") fresh memory then
// arrives at memory speed.
//
// The buffers are ordinary Go memory: the garbage collector frees them and
// nothing needs releasing. Advice is only advice: where it is not supported
// or not honoured the buffers behave as any other.
package hugemem
