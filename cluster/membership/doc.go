// Package membership keeps every goray process (head, worker, driver) in
// the cluster's member list and tells it when members join, change, leave
// and die. It is a thin layer over hashicorp/memberlist (SWIM gossip with
// Lifeguard's refinements) that adds what goray needs:
//
//   - Identity: a member's memberlist name is its node ID, fresh on every
//     start of its process, so a restarted process is a new member. A new
//     member that takes over the gossip address of an old one still listed
//     replaces it at once: the old one is reported dead.
//   - Metadata (Meta): node ID, protoactor address, role, version, build
//     fingerprint, and a summary of resources and labels, in a versioned
//     protobuf encoding within memberlist's 512-byte limit. Decoding
//     checks everything and never panics; a member whose metadata does not
//     decode is refused.
//   - Security: the gossip encryption key and the gossip label are derived
//     from the cluster token (HKDF-SHA256), so a process without the token
//     can neither read the gossip nor join. Its refusals are logged once
//     per peer, not per packet.
//   - Events: a typed, ordered stream (Joined, Updated, Left, Dead) that
//     never blocks memberlist and never drops Joined, Left or Dead; a
//     graceful Leave is reported as Left rather than Dead.
//   - Timing: failure detection tuned to declare a killed member dead
//     within about 2 seconds on a LAN, without false deaths when the
//     members' CPUs are saturated (see DefaultTiming).
//
// Typical use:
//
//	cfg := membership.DefaultConfig()
//	cfg.NodeID = nodeID // fresh per start
//	cfg.Token = token
//	cfg.Meta = membership.Meta{ActorAddr: actorAddr, Role: membership.RoleWorker, Version: v, Fingerprint: fp}
//	cfg.Join = []string{headAddr}
//	c, err := membership.Start(ctx, cfg)
//	...
//	go func() {
//		for ev := range c.Events() {
//			// feed the node table
//		}
//	}()
//	...
//	_ = c.Leave(ctx)
//	_ = c.Shutdown()
package membership
