// Package placement decides where work runs.
//
// Resources are held in fixed point (Quantity, 1/10000 of a unit) so that
// fractional requests such as 0.1 CPU or 0.25 GPU add and subtract exactly.
// A View is the placement actor's picture of the cluster: each node's total
// and available resources, labels and liveness. View.Pick chooses a node for
// one task or actor under the Default (Ray's hybrid), Spread or NodeAffinity
// strategy, restricted by a hard label Selector and steered by a soft one
// (Prefer); View.ReserveGroup places the bundles of a placement group all
// or nothing under PACK, SPREAD, STRICT_PACK or STRICT_SPREAD, with an
// optional selector per bundle.
//
// Labels: every node carries DefaultLabels (node ID, host name, OS,
// architecture, accelerator type) and whatever it is started with. A
// Selector is a conjunction of LabelExprs: in, not in, exists and does not
// exist.
//
// The hybrid policy keeps the count of alive nodes and an index of the idle
// ones, by shape (with or without GPUs), as the view changes. When at least
// k nodes are idle (k = 20 % of the alive nodes), the k best all score 0
// and a pick draws random idle nodes of the request's shape until one fits,
// so its cost does not grow with the cluster; otherwise it scores every
// node.
//
// Failures distinguish two cases callers treat differently: ErrInfeasible
// means no alive node could ever satisfy the request, so it should fail
// fast; ErrNoCapacity means it is satisfiable but not now, so it should wait.
//
// The View is deterministic and does no I/O, so tests drive it directly; it
// is not safe for concurrent use and belongs to a single actor.
//
// The placement actor (Actor) owns the view, shares it with the raylets,
// answers where actors and placement-group work go, and keeps the
// placement groups: it reserves a group on its view, asks each node's
// raylet to prepare the bundles it gets, commits them when every raylet
// agrees and gives back what was prepared when one refuses, fails to
// answer or dies. Groups that cannot be placed yet wait with the reason;
// groups no set of alive nodes could hold are reported infeasible and are
// tried again when nodes join. When a node holding bundles dies, the group
// places those bundles again.
package placement
