// Package placement decides where work runs.
//
// Resources are held in fixed point (Quantity, 1/10000 of a unit) so that
// fractional requests such as 0.1 CPU or 0.25 GPU add and subtract exactly.
// A View is the placement actor's picture of the cluster: each node's total
// and available resources, labels and liveness. View.Pick chooses a node for
// one task or actor under the Default (Ray's hybrid), Spread or NodeAffinity
// strategy; View.Reserve places the bundles of a placement group all or
// nothing under PACK, SPREAD, STRICT_PACK or STRICT_SPREAD.
//
// Failures distinguish two cases callers treat differently: ErrInfeasible
// means no alive node could ever satisfy the request, so it should fail
// fast; ErrNoCapacity means it is satisfiable but not now, so it should wait.
//
// The View is deterministic and does no I/O, so tests drive it directly; it
// is not safe for concurrent use and belongs to a single actor.
package placement
